import Foundation
import Synchronization
import SharedLibraries
@testable import Telemetry
import Testing

struct ProcParsingTests {
    static let stat = """
        cpu  100 5 50 800 45 0 0 0 0 0
        cpu0 50 2 25 400 20 0 0 0 0 0
        intr 12345
        """
    static let meminfo = """
        MemTotal:       16000000 kB
        MemFree:         2000000 kB
        MemAvailable:   12000000 kB
        Buffers:          100000 kB
        """

    @Test func cpuTimesCountIdleAndIOWaitAsIdle() throws {
        let t = try #require(ProcStat.cpuTimes(Self.stat))
        #expect(t.total == 1000)
        #expect(t.busy == 155)
        let later = ProcStat.CPUTimes(busy: 255, total: 1400)
        #expect(later.busyFraction(since: t) == 0.25)
        #expect(t.busyFraction(since: t) == nil)  // no time passed: no reading, not 0
    }

    @Test func memoryIsTotalAndAvailable() throws {
        let m = try #require(ProcStat.memory(Self.meminfo))
        #expect(m.total == 16_000_000 * 1024)
        #expect(m.available == 12_000_000 * 1024)
        #expect(ProcStat.memory("MemTotal: 5 kB") == nil)
        #expect(ProcStat.cpuTimes("garbage") == nil)
    }

    @Test func hostSourceReadsFixturesAndHasNoCPUUseOnItsFirstRead() throws {
        let dir = NSTemporaryDirectory() + "herd-proc-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.stat.write(toFile: dir + "/stat", atomically: true, encoding: .utf8)
        try Self.meminfo.write(toFile: dir + "/meminfo", atomically: true, encoding: .utf8)
        let host = HostSource(procRoot: dir)
        let first = try host.read()
        #expect(first.count == 1)
        #expect(first[0].utilization == nil)
        #expect(first[0].memoryUsedBytes == 4_000_000 * 1024)
        #expect(first[0].powerWatts == nil && first[0].temperatureCelsius == nil)
        try "cpu  200 5 50 1100 45 0 0 0 0 0\n".write(toFile: dir + "/stat", atomically: true, encoding: .utf8)
        #expect(try host.read()[0].utilization == 0.25)
        try FileManager.default.removeItem(atPath: dir + "/stat")
        #expect(throws: TelemetryUnavailable.self) { try host.read() }
    }

    @Test func hostSourceReadsThisMachine() throws {
        let host = HostSource()
        let r = try host.read()
        #expect((r[0].memoryTotalBytes ?? 0) > 0)
    }
}

struct GPULibraryTests {
    /// On a machine without an AMD GPU the source must say why, never crash or invent a reading; with one
    /// (the MI300X node) it must list the GPUs with their memory.
    @Test func rocmSMIEitherReadsGPUsOrSaysWhyNot() {
        do {
            let source = try RocmSMISource()
            let devices = try source.read()
            #expect(!devices.isEmpty)
            #expect(devices.allSatisfy { ($0.memoryTotalBytes ?? 0) > 0 })
        } catch {
            #expect(!error.description.isEmpty)
        }
    }

    @Test func nvmlEitherReadsGPUsOrSaysWhyNot() {
        do {
            let source = try NVMLSource()
            let devices = try source.read()
            #expect(!devices.isEmpty)
            #expect(devices.allSatisfy { ($0.memoryTotalBytes ?? 0) > 0 && $0.name.count > 0 })
            print("NVML:", devices)
        } catch {
            #expect(!error.description.isEmpty)
            print("NVML unavailable:", error)
        }
    }

    @Test func aMissingLibraryNamesEverySonameTried() {
        #expect(throws: TelemetryUnavailable.self) { try SharedLibrary.open(["libherd-no-such.so.1", "libherd-no-such.so"]) }
        do { _ = try SharedLibrary.open(["libherd-no-such.so.1", "libherd-no-such.so"]) } catch {
            #expect(error.description.contains("libherd-no-such.so.1, libherd-no-such.so"))
        }
    }
}

struct SamplerTests {
    final class Slow: TelemetrySource {
        let name = "slow", isGPU = true
        func read() throws(TelemetryUnavailable) -> [DeviceReading] {
            Thread.sleep(forTimeInterval: 2)
            return [DeviceReading(index: 0, name: "slow")]
        }
    }
    final class Counting: TelemetrySource, Sendable {
        let name = "counting", isGPU = true
        let reads = Mutex(0)
        func read() throws(TelemetryUnavailable) -> [DeviceReading] {
            let n = reads.withLock { $0 += 1; return $0 }
            if n == 3 { throw TelemetryUnavailable("device lost") }
            return [DeviceReading(index: 0, name: "gpu", utilization: Double(n) / 10)]
        }
    }

    @Test func aSlowSourceNeverBlocksTheSnapshot() {
        let sampler = TelemetrySampler(interval: 0.05, factories: [.init(name: "slow", isGPU: true) { Slow() }])
        sampler.start()
        defer { sampler.stop() }
        let start = Date()
        for _ in 0..<20 { _ = sampler.snapshot() }
        #expect(Date().timeIntervalSince(start) < 0.5)
        #expect(sampler.snapshot().sources[0].status == .starting)
        #expect(sampler.snapshot().sources[0].devices.isEmpty)
    }

    @Test func statusesTrackOpeningReadingAndFailing() throws {
        let counting = Counting()
        let sampler = TelemetrySampler(interval: 0.02, factories: [
            .init(name: "counting", isGPU: true) { counting },
            .init(name: "missing", isGPU: true) { throw TelemetryUnavailable("libmissing.so.1 not loadable") },
        ])
        sampler.start()
        defer { sampler.stop() }
        var sawFailure = false, s = sampler.snapshot()
        for _ in 0..<200 {
            s = sampler.snapshot()
            if case .failed(let reason) = s.sources[0].status, reason == "device lost" { sawFailure = true }
            if sawFailure && s.sources[0].status == .ok { break }
            Thread.sleep(forTimeInterval: 0.005)
        }
        #expect(sawFailure)
        #expect(s.sources[0].status == .ok)  // it recovered on the next read
        #expect(s.sources[1].status == .unavailable("libmissing.so.1 not loadable"))
        let history = s.sources[0].utilizationHistory[0]
        #expect(history.count >= 3)
        #expect(history.prefix(2) == [0.1, 0.2])
        #expect(s.samplerCPUSeconds >= 0)
    }
}
