// swift-tools-version:6.0
import PackageDescription

// libFuzzer harnesses for every parser of SwiftCTR, in one executable: the harness is chosen
// with CTR_FUZZ_TARGET (see Fuzz/README.md). Build only through Fuzz/run.sh, which passes
// -sanitize=fuzzer,address; the executable's main hands over to libFuzzer's driver.

let package = Package(
    name: "SwiftCTRFuzz",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "SwiftCTR", path: ".."),
    ],
    targets: [
        .target(name: "CFuzzerDriver"),
        .executableTarget(
            name: "ctr-fuzz",
            dependencies: ["CFuzzerDriver", .product(name: "SwiftCTRLibraries", package: "SwiftCTR")]
        ),
    ]
)
