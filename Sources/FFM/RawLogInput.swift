import Dataset
import Featurize
import Ingest

/// Raw log lines featurized on the fly with ctr-hash's featurizer.json, as prediction input.
final class RawLogInput: PredictionInput {
    private let reader: RawLogReader
    private let row: RowFeaturizer

    init(path: String, featurizer: Featurizer) throws {
        row = try featurizer.makeRowFeaturizer()
        // The reader's parser only recognises the header line; the row featurizer parses rows.
        reader = try RawLogReader(path: path, parser: RowParser(schema: featurizer.spec.schema, labelMode: .optional))
    }

    var name: String { reader.path }
    var rowNumber: Int { reader.lineNumber }

    func nextRow() throws -> (label: Float?, features: UnsafeBufferPointer<Feature>)? {
        while let line = try reader.next() {
            switch row.featurize(rawLine: line) {
            case let .features(label, features):
                // #13: a schema's regression target replaces the 0/1 label.
                return (row.lastTarget ?? label.map { Float($0) }, features)
            case .header:
                continue
            case let .bad(message):
                throw FFMError.badInputLine(path: reader.path, line: reader.lineNumber, detail: message)
            }
        }
        return nil
    }
}
