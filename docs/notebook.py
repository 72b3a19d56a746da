# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # dsscan from a notebook
#
# Two small scans of paper 001's parameter space (Datta, Marfatia, Mukherjee 2024), queried with
# SQL and drawn as the paper's Figures 2 and 3, with the Python API of [api.md](api.md).
# Run it as a script (`python docs/notebook.py`) or open it in Jupyter as a notebook (percent
# format: `jupytext --to ipynb docs/notebook.py`, or VS Code's "Run Cell"). It takes about half a
# minute the first time on a new machine (tables are built and the kernel compiled), seconds after.
# The lake goes to a new temporary directory; the figures to `figure2.png`, `figure3.png` and
# `figure3.pdf` in the current directory.

# %%
import tempfile
from importlib import resources

import pandas as pd

import dsscan

# %% [markdown]
# ## Run two scans
#
# Around two of the paper's benchmark points (Table II, shipped in `dsscan/data/benchmarks/`):
# BP1 (κ ≠ 0) and BP6 (κ = 0), every parameter within ±10 %, where a few percent of the points are
# allowed. A config is the TOML file's content as a dict (a path to a `.toml` file works too).
# `engine="local"` evaluates in this process; `"ray"` or `"dask"` spread the chunks over workers.

# %%
benchmarks = pd.read_csv(resources.files("dsscan") / "data/benchmarks/benchmarks_2024.csv", comment="#", index_col="bp")
benchmarks.loc[[1, 6]]


# %%
def around(benchmark: pd.Series, name: str, window: float = 0.1) -> dict:
    """A scan config drawing every parameter within ``window`` of the benchmark's value."""
    parameters = {"eta_u": 0.0}
    for column, value in benchmark.items():
        low, high = sorted((value * (1 - window), value * (1 + window)))
        parameters[column] = {"range": [low, high]} if value else 0.0
    scan = {"name": name, "seed": 1, "points": 3_000, "chunk_size": 1_000, "constraints": "datta2024", "store": "all"}
    return {"scan": scan, "parameters": parameters}


lake_root = tempfile.mkdtemp(prefix="dsscan-notebook-")
for bp, name in ((1, "bp1-kappa"), (6, "bp6-kappa0")):
    summary = dsscan.run_scan(around(benchmarks.loc[bp], name), engine="local", lake=lake_root)
    print(f"{name}: {summary['points']} points, {summary['allowed']} allowed, {summary['rows']} rows stored")

# %% [markdown]
# ## Query the lake
#
# `sql` returns a DuckDB relation: `.df()` gives pandas, `.pl()` polars, `.arrow()` streams Arrow
# record batches. `points(scan, columns, where)` is the same for one scan's stored points.

# %%
lake = dsscan.open_lake(lake_root)
lake.sql("""
    select scan, count(*) as points, sum(allowed::int) as allowed,
           min(BR_Bp_Kpnunu) filter (allowed) as min_BR_Bp_Kpnunu, max(BR_Bp_Kpnunu) filter (allowed) as max_BR_Bp_Kpnunu
    from points group by scan order by scan
""").df()

# %%
# Which constraints remove the most points: the share of stored points failing each one.
lake.sql("""
    select constraint_name, 1 - avg(passed::int) as failing
    from (unpivot (select columns('^pass_') from points) on columns(*) into name constraint_name value passed)
    group by constraint_name order by failing desc limit 6
""").df()

# %%
parameters = list(benchmarks.columns)
allowed = lake.points("bp1-kappa", parameters, where="allowed").df()
allowed.describe().loc[["min", "max"]]

# %% [markdown]
# ## One point
#
# `dsscan.point` evaluates one parameter point and shows what `dsscan point` prints: every
# observable with its unit, every constraint with its bound and status, and the verdict.
# Here: the first allowed point of the κ ≠ 0 scan.

# %%
found = dsscan.point(**allowed.iloc[0].to_dict(), eta_u=0.0)
print(found.verdict)
found

# %% [markdown]
# ## The paper's figures
#
# `dsscan.figures` draws paper 001's Figures 2 and 3 exactly as the explorer app does (the same
# definitions and the same Vega-Lite spec): allowed points of every scan, coloured by scenario, over
# grey bins of all stored points when there are many. A figure shows itself in the notebook (drag to
# pan, scroll to zoom) and saves PNG, PDF or SVG.

# %%
figure2 = dsscan.figures.figure2(lake)
figure2.save("figure2.png")
figure2

# %%
figure3 = dsscan.figures.figure3(lake)
figure3.save("figure3.pdf")
figure3.save("figure3.png")
print(figure3)
figure3
