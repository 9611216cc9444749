import Foundation

/// Every JSON file SwiftCTR writes uses snake_case keys (stats.json, metrics.json,
/// featurizer.json, the manifest, run records, the lock file, run cache entries, `diff
/// --json`); see docs/FORMATS.md, "Key style". The pipeline's own files used camelCase
/// keys before (manifest format 1, lock file format 1, cache entry format 1): their
/// readers look each key up under its snake_case name, then under its old name, so files
/// written by the previous release still read. Parameter names (`rareThreshold`, the keys
/// under `params`) are the pipeline file's language and stay as they are.
struct JSONKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ name: String) { stringValue = name }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

extension KeyedDecodingContainer where K == JSONKey {
    /// The value under `key`, or under its pre-snake_case name `legacy` when only that is present.
    func value<T: Decodable>(_ key: String, or legacy: String? = nil) throws -> T {
        if let legacy, !contains(JSONKey(key)), contains(JSONKey(legacy)) { return try decode(T.self, forKey: JSONKey(legacy)) }
        return try decode(T.self, forKey: JSONKey(key))
    }

    /// The value under `key` (or `legacy`), nil when neither is present or it is null.
    func optionalValue<T: Decodable>(_ key: String, or legacy: String? = nil) throws -> T? {
        if let legacy, !contains(JSONKey(key)) { return try decodeIfPresent(T.self, forKey: JSONKey(legacy)) }
        return try decodeIfPresent(T.self, forKey: JSONKey(key))
    }
}
