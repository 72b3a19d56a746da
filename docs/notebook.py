# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # dsscan from a notebook
#
# A small scan of paper 001's parameter space (Datta, Marfatia, Mukherjee 2024), queried with SQL
# and drawn as the paper's Figures 2 and 3, with the Python API of [docs/api.md](api.md).
# Run it as a script (`python docs/notebook.py`) or open it in Jupyter as a notebook
# (percent format: `jupytext --to ipynb docs/notebook.py`, or VS Code's "Run Cell").
# It takes about half a minute the first time (the kernel compiles), seconds afterwards.

# %%
import tempfile

import dsscan

# %% [markdown]
# ## Run a scan
#
# The config is the TOML file's content as a dict (a path to a `.toml` file works too). The ranges
# are narrowed around the paper's κ ≠ 0 benchmark points (`/work/shared/data/benchmarks_2024.csv`,
# Table II), where about 3 in 1000 uniform points are allowed, so a few thousand points show some.
# `engine="local"` evaluates in this process; `"ray"` or `"dask"` spread the chunks over workers.

# %%
config = {
    "scan": {
        "name": "notebook", "seed": 1, "points": 8_000, "chunk_size": 2_000,
        "constraints": "datta2024", "sampler": "uniform", "store": "all",
    },
    "parameters": {
        "kappa_TeV": {"range": [0.5, 1.1]},
        "eta_d": {"range": [0.15, 0.37]},
        "eta_u": 0.0,
        "eta_c": {"range": [-0.28, -0.13]},
        "eta_t": {"range": [0.006, 0.0105]},
        "g_D": {"range": [0.9, 2.8]},
        "U_mu4": {"range": [3.2e-3, 5.7e-3]},
        "m_S_MeV": {"range": [40, 140]},
        "m_nu4_MeV": {"range": [400, 520]},
    },
}
lake_root = tempfile.mkdtemp(prefix="dsscan-notebook-")
summary = dsscan.run_scan(config, engine="local", lake=lake_root)
print(f"{summary['points']} points, {summary['allowed']} allowed, {summary['rows']} rows stored in {summary['lake']}")

# %% [markdown]
# ## Query the lake
#
# `sql` returns a DuckDB relation: `.df()` gives pandas, `.pl()` polars, `.arrow()` streams Arrow
# record batches. `points(scan, columns, where)` is the same for one scan's stored points.

# %%
lake = dsscan.open_lake(lake_root)
lake.sql("""
    select scan, count(*) as points, sum(allowed::int) as allowed,
           min(BR_Bp_Kpnunu) as min_BR_Bp_Kpnunu, max(BR_Bp_Kpnunu) as max_BR_Bp_Kpnunu
    from points group by scan
""").df()

# %%
# Which constraints remove the most points: the share of stored points failing each one.
lake.sql("""
    select constraint_name, 1 - avg(passed::int) as failing
    from (unpivot (select columns('^pass_') from points) on columns(*) into name constraint_name value passed)
    group by constraint_name order by failing desc limit 6
""").df()

# %%
allowed = lake.points("notebook", ["kappa_TeV", "eta_d", "eta_c", "eta_t", "g_D", "U_mu4", "m_S_MeV", "m_nu4_MeV"], where="allowed").df()
allowed.describe().loc[["min", "max"]]

# %% [markdown]
# ## One point
#
# `dsscan.point` evaluates one parameter point and shows what `dsscan point` prints: every
# observable with its unit, every constraint with its bound and status, and the verdict.
# Here: the first allowed point of the scan.

# %%
found = dsscan.point(**allowed.iloc[0].to_dict(), eta_u=0.0)
print(found.verdict)
found["BR_Bp_Kpnunu"], found["delta_a_mu"]

# %% [markdown]
# ## The paper's figures
#
# `dsscan.figures` draws paper 001's Figures 2 and 3 exactly as the explorer app does (the same
# definitions and the same Vega-Lite spec). A figure shows itself in the notebook (drag to pan,
# scroll to zoom) and saves PNG, PDF or SVG. This scan has κ ≠ 0 only; a second scan with
# `kappa_TeV = 0.0` in the same lake would add the κ = 0 points.

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
