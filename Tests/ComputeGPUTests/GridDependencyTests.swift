@testable import ComputeGPU
import Testing

/// CUDA launches allow programmatic dependent launch (a kernel may start while the previous one drains), which
/// is safe only because every kernel waits for its predecessor (vendor.h's herd_grid_wait) before it reads
/// what a kernel wrote, writes, or returns. A kernel added without the wait would race: this reads the
/// kernel tree and fails naming it.
@Suite struct GridDependencyTests {
    /// Device helpers that wait themselves; a kernel may call one of these instead of waiting first.
    static let waitingHelpers = ["herd_gemv_at", "herd_skinny_tile"]
    /// Kernels reaching a waiting helper through these wrappers (herd_gemv -> herd_gemv_at, ...).
    static let wrappers = ["herd_gemv<": "herd_gemv_at", "herd_gemv3<": "herd_gemv_at", "herd_skinny_tile<": "herd_skinny_tile"]

    /// The text between the `{` at or after `from` and its matching `}`.
    static func body(in text: [Character], from: Int) -> (range: Range<Int>, text: String)? {
        guard let open = text[from...].firstIndex(of: "{") else { return nil }
        var depth = 0
        for i in open..<text.count {
            if text[i] == "{" { depth += 1 }
            if text[i] == "}" {
                depth -= 1
                if depth == 0 { return (open + 1..<i, String(text[open + 1..<i])) }
            }
        }
        return nil
    }

    @Test func everyKernelWaitsForThePreviousOneBeforeItTouchesMemory() throws {
        let source = try KernelCache.source().source
        let text = Array(source)
        // The waiting helpers must contain the wait.
        for helper in Self.waitingHelpers {
            let start = try #require(source.range(of: "void \(helper)("), "helper \(helper) not found")
            let offset = source.distance(from: source.startIndex, to: start.lowerBound)
            let helperBody = try #require(Self.body(in: text, from: offset))
            #expect(helperBody.text.contains("herd_grid_wait()"), "\(helper) must call herd_grid_wait()")
        }
        var kernels = 0
        var searchFrom = source.startIndex
        while let hit = source.range(of: "HERD_KERNEL void", range: searchFrom..<source.endIndex) {
            searchFrom = hit.upperBound
            let offset = source.distance(from: source.startIndex, to: hit.lowerBound)
            let signature = String(text[offset..<min(offset + 400, text.count)])
            let name = signature.split(whereSeparator: { "( ".contains($0) }).first { $0.hasPrefix("herd_") }.map(String.init) ?? "?"
            let kernelBody = try #require(Self.body(in: text, from: offset), "no body for \(name)")
            kernels += 1
            let b = kernelBody.text
            if let wait = b.range(of: "herd_grid_sync()") ?? b.range(of: "herd_grid_wait()") {
                // Nothing returns before the wait (a kernel whose blocks all left early would end before its
                // predecessor, and the next kernel would then start too soon).
                #expect(!b[..<wait.lowerBound].contains("return"), "\(name) returns before herd_grid_wait")
            } else {
                #expect(Self.wrappers.keys.contains { b.contains($0) }, "\(name) never waits for the previous kernel (herd_grid_sync)")
            }
        }
        #expect(kernels > 50)
    }
}
