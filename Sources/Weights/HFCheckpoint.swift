import Compute
import Foundation

/// A Hugging Face checkpoint directory: `config.json` plus either one `model.safetensors` or shards listed
/// by `model.safetensors.index.json` (`{"weight_map": {tensor name: shard file name}}`). Every shard is
/// memory-mapped; tensors are used in place.
///
/// With an index, a tensor's shard is the one the index names, and the index must be right: a shard it
/// names must exist and must hold the tensors it is said to hold.
public final class HFCheckpoint: Sendable {
    public let directory: String
    /// Shards in file-name order.
    public let shards: [SafeTensorsFile]
    /// Tensor name -> (shard number, tensor info).
    private let locations: [String: (Int, SafeTensorInfo)]

    public static let indexFileName = "model.safetensors.index.json"
    public static let singleFileName = "model.safetensors"

    public init(directory: String) throws(ModelFileError) {
        self.directory = directory
        let indexPath = directory + "/" + Self.indexFileName
        var shards: [SafeTensorsFile] = []
        var locations: [String: (Int, SafeTensorInfo)] = [:]
        if FileManager.default.fileExists(atPath: indexPath) {
            let weightMap = try Self.readWeightMap(indexPath)
            let shardNames = Array(Set(weightMap.map(\.1))).sorted()
            var shardNumber: [String: Int] = [:]
            for name in shardNames {
                shardNumber[name] = shards.count
                // A missing shard is reported by MappedFile as "<dir>/<shard>: cannot open: No such file".
                shards.append(try SafeTensorsFile(path: directory + "/" + name))
            }
            for (tensor, shardName) in weightMap {
                let n = shardNumber[shardName]!
                guard let info = shards[n].tensor(named: tensor) else {
                    throw ModelFileError(indexPath, "the index puts tensor \"\(tensor)\" in \(shardName), which does not contain it")
                }
                locations[tensor] = (n, info)
            }
        } else {
            let single = directory + "/" + Self.singleFileName
            guard FileManager.default.fileExists(atPath: single) else {
                throw ModelFileError(directory, "no \(Self.singleFileName) or \(Self.indexFileName) in the checkpoint directory")
            }
            let file = try SafeTensorsFile(path: single)
            shards = [file]
            for info in file.tensors { locations[info.name] = (0, info) }
        }
        self.shards = shards
        self.locations = locations
    }

    /// The index's weight map, checked: every value a plain file name inside the directory.
    private static func readWeightMap(_ path: String) throws(ModelFileError) -> [(String, String)] {
        let file = try MappedFile(path: path)
        let json: JSONValue
        do { json = try JSONValue.parse(file.bytes) } catch { throw ModelFileError(path, "\(error)") }
        guard let map = json["weight_map"]?.objectValue else {
            throw ModelFileError(path, "missing \"weight_map\" object")
        }
        var result: [(String, String)] = []
        for (tensor, value) in map {
            guard let shard = value.stringValue else {
                throw ModelFileError(path, "weight_map[\"\(tensor)\"] is \(value.kind), expected a shard file name")
            }
            // Shards live in the checkpoint directory; refuse paths that would leave it.
            guard !shard.isEmpty, !shard.hasPrefix("/"), !shard.split(separator: "/").contains("..") else {
                throw ModelFileError(path, "weight_map[\"\(tensor)\"] = \"\(shard)\" is not a file in the checkpoint directory")
            }
            result.append((tensor, shard))
        }
        return result
    }

    /// Every tensor name, sorted.
    public var tensorNames: [String] { locations.keys.sorted() }

    public func tensor(named name: String) -> SafeTensorInfo? { locations[name]?.1 }

    /// The shard holding `name` (for error messages and data access).
    public func shard(of name: String) -> SafeTensorsFile? { locations[name].map { shards[$0.0] } }

    /// The named tensor's bytes as a `HostTensor`; nil when absent, an error naming the shard for an
    /// unusable dtype.
    public func hostTensor(named name: String) throws(ModelFileError) -> HostTensor? {
        guard let (n, info) = locations[name] else { return nil }
        return try shards[n].hostTensor(info)
    }
}
