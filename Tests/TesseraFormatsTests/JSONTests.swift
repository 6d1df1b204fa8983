import Testing
import TesseraFormats

@Suite struct JSONTests {
    @Test func parsesEveryKindAndKeepsMemberOrder() throws {
        let value = try JSONValue.parse(#" {"z": [1, -2.5e1, true, false, null], "a": {"k": "v"}, "n": -0, "big": 9223372036854775807} "#)
        #expect(value.object?.keys == ["z", "a", "n", "big"])
        #expect(value["z"] == .array([.integer(1), .number(-25), .bool(true), .bool(false), .null]))
        #expect(value["a"]?["k"]?.string == "v")
        #expect(value["big"]?.integer == .max)
    }

    @Test func decodesEscapesAndSurrogatePairs() throws {
        let value = try JSONValue.parse(#"["a\"b\\c\/\n\t\u00e9\ud83d\ude00", "日本"]"#)
        #expect(value.array?[0].string == "a\"b\\c/\n\té😀")
        #expect(value.array?[1].string == "日本")
    }

    @Test func serializationRoundTrips() throws {
        let text = #"{"b":[1,2.5,"x\"\n\u0001"],"a":{"t":true,"n":null}}"#
        let value = try JSONValue.parse(text)
        #expect(value.serialized == text)
        #expect(try JSONValue.parse(value.serialized) == value)
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\" 1}", "01", "1.", "\"\\x\"", "\"\\ud800\"", "tru", "{} {}", "\"a\nb\"", "[1 2]",
        String(repeating: "[", count: 300) + String(repeating: "]", count: 300),
    ])
    func rejectsMalformedInput(text: String) {
        #expect(throws: JSONError.self) { try JSONValue.parse(text) }
    }

    @Test func rejectsDuplicateKeysNamingTheKey() {
        do {
            _ = try JSONValue.parse(#"{"a": 1, "b": 2, "a": 3}"#)
            Issue.record("expected a duplicate-key error")
        } catch let error as JSONError {
            #expect(error.duplicateKey == "a")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
