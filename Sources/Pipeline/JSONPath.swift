import Foundation
import StageKit

/// Dotted JSON paths for messages: `stages.train.params.factors`, `a["odd key"]`, `b[2]`.
enum JSONPath {
    static func join(_ base: String, _ key: String) -> String {
        let simple = !key.isEmpty && key.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || $0 == "_" || $0 == "-" }
        if !simple { return base + "[\"\(key)\"]" }
        return base.isEmpty ? key : base + "." + key
    }

    static func join(_ base: String, index: Int) -> String { base + "[\(index)]" }

    static func string(_ codingPath: [CodingKey]) -> String {
        var path = ""
        for key in codingPath {
            if let i = key.intValue, key.stringValue.hasPrefix("Index") || key.stringValue == "\(i)" {
                path = join(path, index: i)
            } else {
                path = join(path, key.stringValue)
            }
        }
        return path
    }
}
