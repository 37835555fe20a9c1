"""The paper's published numbers, typed in as data with their source: Table I's inputs (`table1`) and the
targets our results are printed beside (`published`), never read into an estimate."""
