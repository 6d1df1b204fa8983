import Testing
import TesseraParallel
import TesseraTrain

/// Library errors name settings in library terms (property paths) and never a CLI flag; a front end's vocabulary
/// words every setting they name in its own terms (the CLI's own, with its real flags, is checked by
/// scripts/test-cli-wording.sh).
struct LibraryWordingTests {
    /// A vocabulary shaped like the CLI's: `--` and the last component of the property path.
    static let flagLike = SettingVocabulary(name: flag, setting: { "\(flag($0)) \($1)" })

    static func flag(_ name: String) -> String {
        "--" + (name.split(separator: ".").last.map(String.init) ?? name)
    }

    /// Representative errors of the training, checkpoint, sampling and data code, thrown by the code itself.
    static func representativeErrors() throws -> [(library: String, worded: String)] {
        var errors: [any Error] = []
        func collect(_ body: () throws -> Void) {
            do { try body(); Issue.record("no error thrown") } catch { errors.append(error) }
        }
        var configuration = TrainingConfiguration(data: .init(path: "text.txt"))
        configuration.optimizer.minLearningRate = 1
        collect { try configuration.validate() }
        configuration = TrainingConfiguration(data: .init(path: "text.txt"))
        configuration.checkpoint.every = 5
        collect { try configuration.validate() }
        collect { try BatchLayout(globalBatchSize: 6, microBatchSize: 4) }
        collect { try BatchLayout(globalBatchSize: 6, microBatchSize: 4, dataParallelSize: 4) }
        collect { try SamplingOptions(topP: 2).validate() }
        collect { _ = try TrainingData(path: "short.txt", ids: [1, 2, 3], sequenceLength: 4, globalBatchSize: 2,
                                       vocabularySize: 10, tokenizerName: "byte") }
        errors += [TrainingError.unreadableData(path: "x", reason: "gone"), TrainingError.invalidTokenizer(path: "t", reason: "no"),
                   CheckpointError.notACheckpoint(path: "c", reason: "no manifest"),
                   ExpertError.intermediateNotDivisible(intermediate: 6, tp: 4)]
        return try errors.map { error in
            switch error {
            case let error as TrainingError: return (error.description, error.message(naming: flagLike))
            case let error as CheckpointError: return (error.description, error.message(naming: flagLike))
            case let error as ExpertError: return (error.description, error.description)
            default: throw error
            }
        }
    }

    @Test func libraryMessagesNameNoFlag() throws {
        let errors = try Self.representativeErrors()
        #expect(errors.count == 10)
        for (library, _) in errors {
            #expect(!library.contains("--"), "\(library)")
        }
        #expect(errors[0].library.contains("TrainingConfiguration.optimizer.minLearningRate: 1.0 must lie between 0 and"
                                           + " TrainingConfiguration.optimizer.learningRate"), "\(errors[0].library)")
        #expect(errors[1].library.contains("needs TrainingConfiguration.checkpoint.directory"), "\(errors[1].library)")
    }

    /// Every setting a message names is worded by the front end's vocabulary: no property path is left over.
    @Test func aFrontEndWordsEverySettingItsWay() throws {
        let errors = try Self.representativeErrors()
        for (_, worded) in errors {
            #expect(!worded.contains("TrainingConfiguration.") && !worded.contains("SamplingOptions."), "\(worded)")
        }
        #expect(errors[0].worded.hasPrefix("--minLearningRate: 1.0 must lie between 0 and --learningRate"), "\(errors[0].worded)")
        #expect(errors[2].worded.contains("use --microBatchSize ∈ {1, 2, 3, 6}"), "\(errors[2].worded)")
        #expect(errors[3].worded.hasPrefix("--globalBatchSize:"), "\(errors[3].worded)")
        #expect(errors[5].worded.contains("lower --globalBatchSize (2) or --sequenceLength (4)"), "\(errors[5].worded)")
    }

    /// Settings have distinct library names that lead back to them, so a front end can map each to its own term.
    @Test func settingNamesAreDistinctAndRoundTrip() {
        #expect(Set(TrainingSetting.allCases.map(\.name)).count == TrainingSetting.allCases.count)
        #expect(TrainingSetting.allCases.allSatisfy { TrainingSetting(name: $0.name) == $0 && LayoutParameter(name: $0.name) == nil })
    }

    /// Texts put together differently but naming the same settings in the same places are equal; a name is not
    /// equal to the same words as plain text (a front end would not reword those).
    @Test func settingTextsCompareByWhatTheyName() {
        let joined: SettingText = "a " + "\(name: .steps) b"
        #expect(joined == "a \(name: .steps) b")
        #expect(joined != "a TrainingConfiguration.steps b")
        #expect(joined.description == "a TrainingConfiguration.steps b")
    }
}
