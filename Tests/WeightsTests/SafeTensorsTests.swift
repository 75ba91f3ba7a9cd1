import Compute
import Foundation
import TestSupport
import Testing
import Weights

/// The safetensors reader and the checkpoint directory on valid and hostile files.
struct SafeTensorsTests {
    /// A safetensors file from a raw header string and data bytes (so tests can write any header at all).
    static func file(header: String, data: [UInt8], declaredLength: UInt64? = nil) -> [UInt8] {
        let h = Array(header.utf8)
        let length = declaredLength ?? UInt64(h.count)
        return withUnsafeBytes(of: length.littleEndian) { Array($0) } + h + data
    }

    /// A valid three-tensor file: "a" F32 [2, 2], "b" BF16 [3], "c" F8_E4M3 [2, 1], with metadata.
    static let validHeader = #"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"BF16","shape":[3],"data_offsets":[16,22]},"c":{"dtype":"F8_E4M3","shape":[2,1],"data_offsets":[22,24]}}"#
    static let validData: [UInt8] = [1, 2, 3, 4].flatMap { (v: Float) in withUnsafeBytes(of: v) { Array($0) } }
        + [0x80, 0x3f, 0x00, 0x40, 0x40, 0x40] + [0x38, 0xB8]

    static func parse(_ bytes: [UInt8], name: String = "mem.safetensors") throws(ModelFileError) -> SafeTensorsFile {
        try SafeTensorsFile(file: MappedFile(copying: bytes, path: name))
    }

    @Test func readsTensorsInPlace() throws {
        let path = try TemporaryFile.write(Self.file(header: Self.validHeader, data: Self.validData), name: "ok.safetensors")
        let f = try SafeTensorsFile(path: path)
        #expect(f.metadata == ["format": "pt"])
        #expect(f.tensors.map(\.name) == ["a", "b", "c"])
        let a = try #require(f.tensor(named: "a")), b = try #require(f.tensor(named: "b")), c = try #require(f.tensor(named: "c"))
        #expect(a.dtype == .f32 && a.shape == [2, 2] && b.dtype == .bf16 && b.shape == [3] && c.dtype == .f8_e4m3 && c.shape == [2, 1])
        let host = try f.hostTensor(a)
        #expect(Array(host.bytes.bindMemory(to: Float.self)) == [1, 2, 3, 4])
        // In place: the tensor's bytes are the mapping's bytes, not a copy.
        let base = f.mapping.bytes.baseAddress!
        #expect(host.bytes.baseAddress! == base + f.dataOffset)
        #expect(Array(try f.hostTensor(b).bytes) == [0x80, 0x3f, 0x00, 0x40, 0x40, 0x40])
        #expect(Array(try f.hostTensor(c).bytes) == [0x38, 0xB8])
    }

    /// Each hostile file gives a ModelFileError whose text names the file and contains `expected`.
    @Test(arguments: [
        ("truncated: 5 bytes", [UInt8](repeating: 0, count: 5), "header length alone needs 8"),
        ("header length past EOF", file(header: validHeader, data: validData, declaredLength: 10_000), "runs past the end of the file"),
        ("header length huge", file(header: validHeader, data: validData, declaredLength: UInt64.max), "runs past the end of the file"),
        ("header cut short", file(header: String(validHeader.prefix(60)), data: []), "invalid JSON"),
        ("not an object", file(header: "[1,2]", data: []), "does not start with a JSON object"),
        ("offsets past the data", file(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: [0, 0, 0, 0]),
         "tensor \"a\": data_offsets [0, 8] lie outside the data section of 4 bytes"),
        ("offsets reversed", file(header: #"{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}"#, data: [0, 0, 0, 0]), "lie outside"),
        ("negative offset", file(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}"#, data: [0, 0, 0, 0]), "lie outside"),
        ("shape disagrees with the bytes", file(header: #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8)),
         "tensor \"a\": data_offsets [0, 8] hold 8 bytes but F32 [3] needs 12"),
        ("dtype disagrees with the bytes", file(header: #"{"a":{"dtype":"BF16","shape":[4],"data_offsets":[0,16]}}"#, data: [UInt8](repeating: 0, count: 16)),
         "needs 8"),
        ("negative dimension", file(header: #"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]), "not a non-negative integer"),
        ("overflowing shape", file(header: #"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]),
         "larger than the file"),
        ("duplicate names", file(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: [UInt8](repeating: 0, count: 8)),
         "duplicate key \"a\""),
        ("overlapping tensors", file(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: [UInt8](repeating: 0, count: 8)),
         "tensors \"a\" and \"b\" overlap"),
        ("unknown dtype", file(header: #"{"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}"#, data: [0]), "tensor \"a\": unknown dtype \"Q4\""),
        ("missing dtype", file(header: #"{"a":{"shape":[1],"data_offsets":[0,1]}}"#, data: [0]), "missing or non-string \"dtype\""),
        ("offsets not integers", file(header: #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1.5]}}"#, data: [0]), "must be two integers"),
        ("metadata not strings", file(header: #"{"__metadata__":{"n":1}}"#, data: []), "__metadata__ \"n\" is a number"),
        ("deep nesting", file(header: "{\"a\":" + String(repeating: "[", count: 200) + String(repeating: "]", count: 200) + "}", data: []), "nested deeper"),
    ] as [(String, [UInt8], String)])
    func hostileFilesAreRefused(_ name: String, _ bytes: [UInt8], _ expected: String) {
        do {
            _ = try Self.parse(bytes, name: "bad.safetensors")
            Issue.record("\(name): accepted")
        } catch {
            #expect(error.description.hasPrefix("bad.safetensors: "), "\(name): \(error)")
            #expect(error.description.contains(expected), "\(name): \(error)")
        }
    }

    @Test func everyTruncationIsAnErrorNotACrash() throws {
        let whole = Self.file(header: Self.validHeader, data: Self.validData)
        for length in 0..<whole.count {
            #expect(throws: ModelFileError.self, "prefix of \(length) bytes") { try Self.parse(Array(whole.prefix(length))) }
        }
        #expect(try Self.parse(whole).tensors.count == 3)
    }

    @Test func dtypesHerdCannotUseAreListedButNotHandedOut() throws {
        let f = try Self.parse(Self.file(header: #"{"mask":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}}"#, data: [1, 0]), name: "v.safetensors")
        let info = try #require(f.tensor(named: "mask"))
        #expect(info.dtype == nil && info.dtypeName == "BOOL")
        #expect { try f.hostTensor(info) } throws: { error in
            "\(error)".contains("v.safetensors: tensor \"mask\" has dtype BOOL")
        }
    }

    // MARK: checkpoint directories

    static func directory(_ files: [String: [UInt8]]) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("herd-ckpt-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (name, bytes) in files { try Data(bytes).write(to: URL(fileURLWithPath: dir + "/" + name)) }
        return dir
    }

    static let shardA = file(header: #"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 128, 63])
    static let shardB = file(header: #"{"y":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 64])
    static func index(_ map: String) -> [UInt8] { Array(#"{"metadata":{},"weight_map":\#(map)}"#.utf8) }

    @Test func shardedCheckpointFollowsTheIndex() throws {
        let dir = try Self.directory(["a.safetensors": Self.shardA, "b.safetensors": Self.shardB,
                                      "model.safetensors.index.json": Self.index(#"{"x":"a.safetensors","y":"b.safetensors"}"#)])
        let c = try HFCheckpoint(directory: dir)
        #expect(c.shards.count == 2 && c.tensorNames == ["x", "y"])
        #expect(Array(try #require(try c.hostTensor(named: "y")).bytes.bindMemory(to: Float.self)) == [2])
        #expect(c.shard(of: "x")?.path == dir + "/a.safetensors")
        #expect(try c.hostTensor(named: "z") == nil)
    }

    @Test func singleFileCheckpoint() throws {
        let dir = try Self.directory(["model.safetensors": Self.shardA])
        #expect(try HFCheckpoint(directory: dir).tensorNames == ["x"])
    }

    @Test(arguments: [
        ("index names a missing shard", #"{"x":"a.safetensors","y":"missing.safetensors"}"#, "missing.safetensors: cannot open"),
        ("index puts a tensor in the wrong shard", #"{"x":"a.safetensors","y":"a.safetensors"}"#,
         "the index puts tensor \"y\" in a.safetensors, which does not contain it"),
        ("shard path leaves the directory", #"{"x":"../a.safetensors"}"#, "is not a file in the checkpoint directory"),
        ("absolute shard path", #"{"x":"/etc/passwd"}"#, "is not a file in the checkpoint directory"),
        ("shard name not a string", #"{"x":3}"#, "weight_map[\"x\"] is a number"),
        ("duplicate tensor in the index", #"{"x":"a.safetensors","x":"b.safetensors"}"#, "duplicate key \"x\""),
    ] as [(String, String, String)])
    func badIndexesAreRefused(_ name: String, _ map: String, _ expected: String) throws {
        let dir = try Self.directory(["a.safetensors": Self.shardA, "b.safetensors": Self.shardB,
                                      "model.safetensors.index.json": Self.index(map)])
        #expect { try HFCheckpoint(directory: dir) } throws: { error in
            let text = "\(error)"
            let ok = text.hasPrefix(dir + "/") && text.contains(expected)
            if !ok { Issue.record("\(name): \(text)") }
            return ok
        }
    }

    @Test func directoryWithoutWeights() throws {
        let dir = try Self.directory(["config.json": Array("{}".utf8)])
        #expect { try HFCheckpoint(directory: dir) } throws: { error in
            "\(error)" == "\(dir): no model.safetensors or model.safetensors.index.json in the checkpoint directory"
        }
    }
}
