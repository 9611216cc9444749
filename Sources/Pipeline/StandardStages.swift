/// The stage kinds `ctr-pipeline` runs: each adapts a stage library's Params struct and
/// entry point (the same function its `ctr-*` executable calls) to `PipelineStage`.
extension StageRegistry {
    public static var standard: StageRegistry {
        let registry = StageRegistry()
        return registry
    }
}
