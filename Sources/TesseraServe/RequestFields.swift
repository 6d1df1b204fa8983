import TesseraFormats

/// Typed reads of a request body's top-level fields, each wrong type a 400 that names the field.
package struct RequestFields {
    package let object: JSONObject

    /// The body as a JSON object.
    /// - Throws: ``APIError`` 400 for text that is not JSON (or not UTF-8) or not an object.
    package init(body: [UInt8]) throws {
        let value: JSONValue
        do {
            value = try JSONValue.parse(body)
        } catch {
            throw APIError(.badRequest, "the request body is not valid JSON: \(error)")
        }
        guard let object = value.object else { throw APIError(.badRequest, "the request body must be a JSON object") }
        self.object = object
    }

    package init(object: JSONObject) {
        self.object = object
    }

    /// The value of `key`, `nil` when absent or null.
    package func value(_ key: String) -> JSONValue? {
        guard let value = object[key], !value.isNull else { return nil }
        return value
    }

    package func string(_ key: String) throws -> String? {
        guard let value = value(key) else { return nil }
        guard let string = value.string else { throw APIError.invalid(key, "'\(key)' must be a string") }
        return string
    }

    package func bool(_ key: String) throws -> Bool? {
        guard let value = value(key) else { return nil }
        guard let bool = value.bool else { throw APIError.invalid(key, "'\(key)' must be true or false") }
        return bool
    }

    package func integer(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let value = value(key) else { return nil }
        guard let integer = value.integer, let int = Int(exactly: integer) else {
            throw APIError.invalid(key, "'\(key)' must be an integer")
        }
        guard range.contains(int) else { throw APIError.invalid(key, "'\(key)' is \(int); it must lie in \(range.lowerBound)...\(range.upperBound)") }
        return int
    }

    package func number(_ key: String, in range: ClosedRange<Double>) throws -> Float? {
        guard let value = value(key) else { return nil }
        guard let number = value.double else { throw APIError.invalid(key, "'\(key)' must be a number") }
        guard range.contains(number) else { throw APIError.invalid(key, "'\(key)' is \(number); it must lie in [\(range.lowerBound), \(range.upperBound)]") }
        return Float(number)
    }

    /// `stop`: a string or a list of up to `limit` non-empty strings.
    package func stopStrings(limit: Int) throws -> [String] {
        guard let value = value("stop") else { return [] }
        let strings: [String]
        if let string = value.string {
            strings = [string]
        } else if let array = value.array, array.allSatisfy({ $0.string != nil }) {
            strings = array.compactMap(\.string)
        } else {
            throw APIError.invalid("stop", "'stop' must be a string or a list of strings")
        }
        guard strings.count <= limit else { throw APIError.invalid("stop", "'stop' has \(strings.count) strings; at most \(limit) are allowed") }
        guard strings.allSatisfy({ !$0.isEmpty }) else { throw APIError.invalid("stop", "'stop' strings must not be empty") }
        return strings
    }
}
