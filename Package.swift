// swift-tools-version:6.1
import PackageDescription

// SwiftCTR: one library per stage, thin `ctr-*` executables over them.
// docs/ARCHITECTURE.md draws the module graph.
//
// The trait `MPI` (off by default: `swift build -c release --traits MPI`) links Open MPI
// into the `Cluster` module, so ctr-train runs data parallel under mpirun (docs/SCALING.md).
// The trait `ISAL` (off by default: `--traits ISAL`) reads gzip input with ISA-L's inflate
// (libisal-dev) instead of zlib's: the same bytes, fewer CPU seconds (Benchmarks/README.md).
// Without them the default build needs only zlib.

let argumentParser: Target.Dependency = .product(name: "ArgumentParser", package: "swift-argument-parser")

let package = Package(
    name: "SwiftCTR",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "ctr-ingest", targets: ["ctr-ingest"]),
        .executable(name: "ctr-synth", targets: ["ctr-synth"]),
        .executable(name: "ctr-hash", targets: ["ctr-hash"]),
        .executable(name: "ctr-train", targets: ["ctr-train"]),
        .executable(name: "ctr-predict", targets: ["ctr-predict"]),
        .executable(name: "ctr-eval", targets: ["ctr-eval"]),
        .executable(name: "ctr-pipeline", targets: ["ctr-pipeline"]),
        // The stage libraries, for packages that build on them (Fuzz/ depends on it by path).
        .library(name: "SwiftCTRLibraries", targets: ["LogIO", "StageKit", "Ingest", "Dataset", "Featurize", "FFM", "Pipeline"]),
    ],
    traits: [
        .trait(name: "MPI", description: "Link Open MPI (libopenmpi-dev): ctr-train runs data parallel under mpirun."),
        .trait(name: "ISAL", description: "Inflate gzip input with ISA-L (libisal-dev) instead of zlib: the same bytes, less CPU."),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // MARK: - Foundation (shared by every stage)

        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]
        ),
        // ISA-L's inflate, only with the ISAL trait.
        .systemLibrary(
            name: "CIsal",
            pkgConfig: "libisal",
            providers: [.apt(["libisal-dev"]), .brew(["isa-l"])]
        ),
        // The signal-time cleanup of temporary files (async-signal-safe, so in C).
        .target(name: "CTemporaryFiles"),
        .target(name: "LogIO", dependencies: ["CZlib", "CTemporaryFiles", .target(name: "CIsal", condition: .when(traits: ["ISAL"]))],
                swiftSettings: [.define("ISAL", .when(traits: ["ISAL"]))]),
        // Parameters declared once (CLI options, pipeline JSON, checks), the reporter, the stage shape.
        .target(name: "StageKit", dependencies: ["LogIO", argumentParser]),
        // --version: the git revision comes from a plugin that runs git before each build
        // ("unknown" outside a git checkout, e.g. a tarball).
        .plugin(name: "GitRevision", capability: .buildTool(), path: "Plugins/GitRevision"),
        .target(name: "CommandSupport", dependencies: ["StageKit", "LogIO", "Cluster", argumentParser], plugins: ["GitRevision"]),

        // MARK: - Cluster: ranks and collectives (MPI with the trait, one rank without)

        // mpi.h, and a shim of functions for the handle macros Swift cannot import.
        .systemLibrary(
            name: "CMPI",
            pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev"]), .brew(["open-mpi"])]
        ),
        .target(
            name: "Cluster",
            dependencies: [.target(name: "CMPI", condition: .when(traits: ["MPI"]))],
            swiftSettings: [.define("MPI", .when(traits: ["MPI"]))]
        ),
        .testTarget(name: "ClusterTests", dependencies: ["Cluster"]),
        .target(name: "TestSupport", dependencies: ["Dataset", "LogIO"], path: "Sources/TestSupport"),
        .testTarget(name: "LogIOTests", dependencies: ["LogIO", "CZlib", "TestSupport"]),
        .testTarget(name: "StageKitTests", dependencies: ["StageKit", "TestSupport", argumentParser]),

        // MARK: - Ingest: raw logs -> validated rows, and synthetic logs

        // Field splitting 16 or 32 bytes at a time (SSE2, or AVX2 chosen at run time by CPUID), in C.
        .target(name: "CSplit"),
        .target(name: "Ingest", dependencies: ["StageKit", "LogIO", "Cluster", "CSplit"]),
        .target(name: "Synth", dependencies: ["StageKit", "LogIO"]),
        .executableTarget(name: "ctr-ingest", dependencies: ["Ingest", "Cluster", "CommandSupport", argumentParser]),
        .executableTarget(name: "ctr-synth", dependencies: ["Synth", "CommandSupport", argumentParser]),
        .testTarget(name: "IngestTests", dependencies: ["StageKit", "Ingest", "Synth", "LogIO", "Cluster", "CSplit", "TestSupport"]),

        // MARK: - Dataset: libffm text and the binary training cache (the hash/train contract)

        // The cache rows' index deltas as varints, with BMI2 chosen at run time by CPUID (C).
        .target(name: "CVarint"),
        .target(name: "Dataset", dependencies: ["LogIO", "CVarint"]),
        .testTarget(name: "DatasetTests", dependencies: ["StageKit", "Dataset", "LogIO", "CVarint", "TestSupport"]),

        // MARK: - Featurize: rows -> hashed libffm features

        .target(name: "Featurize", dependencies: ["StageKit", "Ingest", "Dataset", "LogIO", "Cluster", "CSplit"]),
        .executableTarget(name: "ctr-hash", dependencies: ["Featurize", "Cluster", "CommandSupport", argumentParser]),
        .testTarget(name: "FeaturizeTests", dependencies: ["StageKit", "Featurize", "Ingest", "Dataset", "LogIO", "Cluster", "TestSupport"]),

        // MARK: - FFM: training and prediction (from libffm text, caches or raw logs)

        .systemLibrary(name: "CPrefetch"),
        // DeepFM's matrix product for AVX2 + FMA processors (chosen at run time by CPUID).
        .target(name: "CDeepKernel"),
        .target(name: "FFM", dependencies: ["StageKit", "Dataset", "Featurize", "Ingest", "Metrics", "LogIO", "CPrefetch", "CDeepKernel", "Cluster"]),
        .executableTarget(name: "ctr-train", dependencies: ["FFM", "Cluster", "CommandSupport", argumentParser]),
        .executableTarget(name: "ctr-predict", dependencies: ["FFM", "CommandSupport", argumentParser]),
        .testTarget(name: "FFMTests", dependencies: ["StageKit", "Metrics", "FFM", "CDeepKernel", "Dataset", "LogIO", "TestSupport"]),

        // MARK: - Metrics: offline evaluation

        .target(name: "Metrics", dependencies: ["StageKit", "Dataset", "LogIO"]),
        .executableTarget(name: "ctr-eval", dependencies: ["Metrics", "FFM", "CommandSupport", argumentParser]),
        .testTarget(name: "MetricsTests", dependencies: ["StageKit", "Metrics", "Dataset", "FFM", "LogIO", "TestSupport"], exclude: ["oracle.py", "regression_oracle.py"]),

        // MARK: - Pipeline: declarative runs of the stages above

        // Starting command and MPI stages (fork/exec with a parent-death signal, so in C).
        .target(name: "CSubprocess"),
        .target(name: "Pipeline", dependencies: ["StageKit", "Ingest", "Featurize", "FFM", "Metrics", "LogIO", "CSubprocess"]),
        .executableTarget(name: "ctr-pipeline", dependencies: ["Pipeline", "CommandSupport", argumentParser]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "StageKit", "Ingest", "Featurize", "FFM", "Metrics", "LogIO", "TestSupport", argumentParser]),
    ]
)
