"""tokenize (paper §3.1-3.2): byte-level BPE with the DeepSeek-Coder token layout, document-level
FIM, Megatron indexed datasets. `stage.TokenizeStage(TokenizeConfig(...))` runs under
`stages.core.runner.run_stage`; see docs/tokenize.md."""
