"""`dscoder report`: one self-contained HTML page from the stages' metadata and metrics."""
