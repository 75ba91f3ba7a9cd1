import Compute
import Foundation
import TestSupport
import Testing
import Weights

struct GGUFReaderTests {
    /// A small valid file with every metadata value type and one tensor of each supported weight type.
    static func sampleWriter(version: UInt32 = 3) -> GGUFWriter {
        var w = GGUFWriter(version: version)
        w.add("general.architecture", .string("llama"))
        w.add("t.u8", .u8(200)); w.add("t.i8", .i8(-5)); w.add("t.u16", .u16(60000)); w.add("t.i16", .i16(-300))
        w.add("t.u32", .u32(4_000_000_000)); w.add("t.i32", .i32(-7)); w.add("t.u64", .u64(1 << 40)); w.add("t.i64", .i64(-(1 << 40)))
        w.add("t.f32", .f32(1.5)); w.add("t.f64", .f64(-2.25)); w.add("t.bool", .bool(true)); w.add("t.str", .string("héllo ✓"))
        w.add("t.arr", .array(8, [.string("a"), .string("bc")]))
        w.add("t.nested", .array(9, [.array(5, [.i32(1), .i32(2)]), .array(5, [])]))
        w.addTensor("f32", dims: [4, 2], type: .f32, data: (0..<8).flatMap { withUnsafeBytes(of: Float($0)) { Array($0) } })
        w.addTensor("f16", dims: [32], type: .f16, data: [UInt8](repeating: 0x3c, count: 64))
        w.addTensor("bf16", dims: [32], type: .bf16, data: [UInt8](repeating: 0x3f, count: 64))
        w.addTensor("q8_0", dims: [32, 2], type: .q8_0, data: [UInt8](repeating: 1, count: 68))
        w.addTensor("q4_0", dims: [64], type: .q4_0, data: [UInt8](repeating: 2, count: 36))
        w.addTensor("q4_1", dims: [32], type: .q4_1, data: [UInt8](repeating: 3, count: 20))
        return w
    }

    static func parse(_ bytes: [UInt8], name: String = "mem.gguf") throws(ModelFileError) -> GGUFFile {
        try GGUFFile(file: MappedFile(copying: bytes, path: name))
    }

    @Test(arguments: [UInt32(2), 3])
    func readsEveryValueTypeAndTensor(version: UInt32) throws {
        let f = try GGUFFile(path: Self.sampleWriter(version: version).write())
        #expect(f.version == version)
        #expect(f.metadata["t.u8"] == .uint8(200))
        #expect(f.metadata["t.i8"] == .int8(-5))
        #expect(f.metadata["t.u16"] == .uint16(60000))
        #expect(f.metadata["t.i16"] == .int16(-300))
        #expect(f.metadata["t.u32"] == .uint32(4_000_000_000))
        #expect(f.metadata["t.i32"] == .int32(-7))
        #expect(f.metadata["t.u64"] == .uint64(1 << 40))
        #expect(f.metadata["t.i64"] == .int64(-(1 << 40)))
        #expect(f.metadata["t.f32"] == .float32(1.5))
        #expect(f.metadata["t.f64"] == .float64(-2.25))
        #expect(f.metadata["t.bool"] == .bool(true))
        #expect(try f.string("t.str") == "héllo ✓")
        #expect(try f.stringArray("t.arr") == ["a", "bc"])
        guard case .array(let nested) = f.metadata["t.nested"] else { Issue.record("nested array missing"); return }
        #expect(nested.values == [.array(GGUFArray(values: [.int32(1), .int32(2)])), .array(GGUFArray(values: []))])
        #expect(f.metadataKeys.first == "general.architecture")
        #expect(f.tensors.map(\.type) == [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1])
        let t = try #require(f.tensor(named: "f32"))
        #expect(t.dims == [4, 2])
        #expect(Array(f.data(for: t).bindMemory(to: Float.self)) == (0..<8).map(Float.init))
        #expect(f.data(for: f.tensor(named: "q8_0")!).count == 68)
        #expect(f.dataOffset % 32 == 0)
        #expect(throws: ModelFileError.self) { try f.int("t.str") }
        #expect(throws: ModelFileError.self) { try f.string("no.such.key") }
    }

    @Test func customAlignment() throws {
        var w = Self.sampleWriter()
        w.alignment = 64
        w.add("general.alignment", .u32(64))
        let f = try GGUFFile(path: w.write())
        #expect(f.alignment == 64 && f.dataOffset % 64 == 0)
        #expect(Array(f.data(for: f.tensor(named: "f32")!).bindMemory(to: Float.self))[3] == 3)
    }

    @Test func readsTheEmbeddedDefaultModel() throws {
        let f = try GGUFFile(path: TestModels.smolLM2Path())
        #expect(f.version == 3)
        #expect(f.tensors.count == 272)
        #expect(try f.string("general.architecture") == "llama")
        #expect(try f.int("llama.block_count") == 30)
        #expect(try f.stringArray("tokenizer.ggml.tokens").count == 49152)
        #expect(f.tensor(named: "token_embd.weight")?.type == .q8_0)
        #expect(f.tensors.filter { $0.type == .q4_1 }.count == 210)
    }

    /// Each hostile variant must give a ModelFileError whose message names the file and the problem.
    @Test func hostileFilesGiveClearErrors() throws {
        let good = Self.sampleWriter().bytes()
        func expectError(_ bytes: [UInt8], _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
            do {
                _ = try Self.parse(bytes, name: "bad.gguf")
                Issue.record("accepted a bad file (expected \"\(fragment)\")", sourceLocation: sourceLocation)
            } catch {
                #expect(error.description.hasPrefix("bad.gguf: "), sourceLocation: sourceLocation)
                #expect(error.description.contains(fragment), "\(error)", sourceLocation: sourceLocation)
            }
        }
        func patched(_ offset: Int, _ values: [UInt8]) -> [UInt8] {
            var b = good
            b.replaceSubrange(offset..<(offset + values.count), with: values)
            return b
        }
        func le64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
        expectError(Array("GGML".utf8) + good.dropFirst(4), "not a GGUF file")
        expectError(patched(4, [1, 0, 0, 0]), "unsupported GGUF version 1")
        expectError(patched(4, [4, 0, 0, 0]), "unsupported GGUF version 4")
        expectError(patched(8, le64(1 << 60)), "tensor count")
        expectError(patched(16, le64(UInt64.max)), "metadata count")
        expectError(patched(24, le64(1 << 50)), "claims")                  // first key's length
        expectError(Array(good.prefix(30)), "impossible for a file of 30 bytes")
        expectError(Array(good.prefix(400)), "truncated header")
        // The last tensor (Q4_1, 20 bytes) is followed by 12 bytes of padding: cut one data byte.
        expectError(Array(good.prefix(good.count - 13)), "past the end of the file")

        var w = Self.sampleWriter()
        w.tensors[0].type = 99
        expectError(w.bytes(), "unknown or unsupported type id 99")
        w = Self.sampleWriter(); w.tensors[0].dims = [0, 2]
        expectError(w.bytes(), "absurd dimension")
        w = Self.sampleWriter(); w.tensors[0].dims = [1, 1, 1, 1, 1]
        expectError(w.bytes(), "5 dimensions")
        w = Self.sampleWriter(); w.tensors[3].dims = [16, 2]
        expectError(w.bytes(), "not a multiple")
        w = Self.sampleWriter(); w.tensors[0].dims = [1 << 30, 1 << 30]
        expectError(w.bytes(), "too many elements")
        w = Self.sampleWriter(); w.add("t.u8", .u8(1))
        expectError(w.bytes(), "duplicate metadata key")
        w = Self.sampleWriter(); w.tensors[1].name = "f32"
        expectError(w.bytes(), "duplicate tensor")
        w = Self.sampleWriter(); w.add("general.alignment", .u32(24))
        expectError(w.bytes(), "power of two")
        w = Self.sampleWriter(); w.add("x", .array(77, []))
        expectError(w.bytes(), "unknown array element type 77")
        w = Self.sampleWriter(); w.add("x", .array(9, [.array(9, [.array(9, [.array(9, [.array(9, [])])])])]))
        expectError(w.bytes(), "nested too deeply")
    }

    @Test func emptyAndMissingFiles() throws {
        #expect(throws: ModelFileError.self) { try GGUFFile(path: "/nonexistent/model.gguf") }
        let empty = try TemporaryFile.write([], name: "empty.gguf")
        do { _ = try GGUFFile(path: empty); Issue.record("empty file accepted") } catch {
            #expect(error.description.contains("empty"))
        }
        #expect(throws: ModelFileError.self) { try GGUFFile(path: "/tmp") }
    }

    /// Every prefix of a valid file that cuts into the header or tensor data is refused with an error; only
    /// the trailing alignment padding (12 bytes after the last tensor) may go.
    @Test func everyTruncationIsRefused() throws {
        let good = Self.sampleWriter().bytes()
        let padding = 12
        for length in 0..<(good.count - padding) {
            #expect(throws: ModelFileError.self) { try Self.parse(Array(good.prefix(length))) }
        }
        for length in (good.count - padding)...good.count {
            #expect(try Self.parse(Array(good.prefix(length))).tensors.count == 6)
        }
    }

    /// Random mutations of the real model's header (bytes flipped, fields overwritten with extreme values,
    /// cut at random points): parsing must end in a value or a ModelFileError, never a crash or a hang.
    @Test func fuzzRealHeader() throws {
        let real = try GGUFFile(path: TestModels.smolLM2Path())
        // The header plus the first tensors' data: enough to exercise every parsing path, small to copy.
        let fd = try FileHandle(forReadingFrom: URL(fileURLWithPath: real.path))
        let prefix = [UInt8](fd.readData(ofLength: real.dataOffset + 4096))
        var rng = SystemRandomNumberGenerator()
        let seed = UInt64.random(in: 0 ... .max, using: &rng)
        var state = seed
        func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 11 }
        var accepted = 0, refused = 0
        let interesting: [UInt64] = [0, 1, 0xff, 0xffff, 0xffff_ffff, 1 << 32, 1 << 62, .max]
        for _ in 0..<300 {
            var bytes = prefix
            for _ in 0..<(1 + Int(next() % 4)) {
                let at = Int(next() % UInt64(bytes.count - 8))
                switch next() % 3 {
                case 0: bytes[at] ^= UInt8(truncatingIfNeeded: 1 << (next() % 8))
                case 1:
                    let v = interesting[Int(next() % UInt64(interesting.count))]
                    withUnsafeBytes(of: v.littleEndian) { bytes.replaceSubrange(at..<(at + 8), with: $0) }
                default: bytes[at] = UInt8(truncatingIfNeeded: next())
                }
            }
            if next() % 4 == 0 { bytes = Array(bytes.prefix(Int(next() % UInt64(bytes.count)))) }
            do { _ = try Self.parse(bytes); accepted += 1 } catch { refused += 1 }
        }
        #expect(accepted + refused == 300, "seed \(seed)")
        #expect(refused > 0, "seed \(seed): every mutation accepted?")
    }
}
