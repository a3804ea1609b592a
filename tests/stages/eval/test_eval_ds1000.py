"""DS-1000 (Table 4) on a fixture in the official schema (xlang-ai/DS-1000's ds1000.jsonl: prompt,
reference_code, code_context with test_execution(solution), metadata.library): two problems per
library that the eval environment (`make ds1000-env`) has; reference solutions pass under both
protocols, wrong ones fail. The real data cannot be had here."""

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from eval_test_helpers import read_jsonl, write_jsonl  # noqa: E402

from stages.eval.execute import ds1000_env  # noqa: E402


def _context(setup: str, check: str, exec_context: str, cases: int = 2) -> str:
    """A code_context the way DS-1000 writes them: generate_test_case, exec_test, exec_context with
    [insert], test_execution(solution)."""
    return f'''import numpy as np
import copy


def generate_test_case(test_case_id):
{setup}


def exec_test(result, ans):
{check}
    return 1


exec_context = r"""
{exec_context}
"""


def test_execution(solution: str):
    code = exec_context.replace("[insert]", solution)
    for i in range({cases}):
        test_input, expected_result = generate_test_case(i + 1)
        test_env = {{"test_input": test_input}}
        exec(code, test_env)
        assert exec_test(test_env["result"], expected_result)
'''


def _problem(pid, library, prompt, reference, context):
    return {"prompt": prompt, "reference_code": reference, "code_context": context,
            "metadata": {"problem_id": pid, "library_problem_id": pid, "library": library, "test_case_cnt": 2,
                         "perturbation_type": "Origin", "perturbation_origin_id": pid}}


NP_SETUP = "    a = np.arange(12 * test_case_id).reshape(-1, 3)\n    return a, a.sum(axis=0)"
NP_SETUP2 = "    a = np.array([[1, 5, 2], [7, 0, 3]]) * test_case_id\n    return a, a.argmax(axis=1)"
PD_SETUP = ("    import pandas as pd\n    df = pd.DataFrame({'a': [1, 2, 3 * test_case_id], 'b': [4, 5, 6]})\n"
            "    return df, df['a'] + df['b']")
PD_SETUP2 = ("    import pandas as pd\n    df = pd.DataFrame({'k': ['x', 'y', 'x'], 'v': [1, 2, 3 * test_case_id]})\n"
             "    return df, df.groupby('k')['v'].sum()")
SP_SETUP = ("    from scipy import sparse\n    m = sparse.random(5, 5, density=0.3, format='csr', random_state=test_case_id)\n"
            "    return m, m.toarray().sum()")
SP_SETUP2 = "    x = np.linspace(0, 1 + test_case_id, 11)\n    from scipy import integrate\n    return x, integrate.trapezoid(x ** 2, x)"
SK_SETUP = ("    X = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0 * test_case_id]])\n"
            "    from sklearn.preprocessing import StandardScaler\n    return X, StandardScaler().fit_transform(X)")
SK_SETUP2 = ("    X = np.array([[0.0], [1.0], [2.0], [3.0]]) * test_case_id\n    y = np.array([1.0, 3.0, 5.0, 7.0]) * test_case_id\n"
             "    return (X, y), 2.0")
MPL_CHECK = "    import matplotlib.pyplot as plt\n    assert result == ans"

FIXTURE = [
    _problem(0, "Numpy", "Problem:\nSum the columns of a.\nA:\n<code>\nimport numpy as np\na = test_input\n</code>\n"
             "result = ... # put solution in this variable\nBEGIN SOLUTION\n<code>\n", "result = a.sum(axis=0)\n",
             _context(NP_SETUP, "    np.testing.assert_array_equal(result, ans)", "import numpy as np\na = test_input\n[insert]")),
    _problem(1, "Numpy", "Problem:\nIndex of each row's maximum.\n<code>\n", "result = np.argmax(a, axis=1)\n",
             _context(NP_SETUP2, "    np.testing.assert_array_equal(result, ans)", "import numpy as np\na = test_input\n[insert]")),
    _problem(2, "Pandas", "Problem:\nAdd columns a and b.\n<code>\n", "result = df['a'] + df['b']\n",
             _context(PD_SETUP, "    import pandas as pd\n    pd.testing.assert_series_equal(result, ans)",
                      "import pandas as pd\ndf = test_input\n[insert]")),
    _problem(3, "Pandas", "Problem:\nSum v per k.\n<code>\n", "result = df.groupby('k')['v'].sum()\n",
             _context(PD_SETUP2, "    import pandas as pd\n    pd.testing.assert_series_equal(result, ans)",
                      "import pandas as pd\ndf = test_input\n[insert]")),
    _problem(4, "Scipy", "Problem:\nSum of all entries of a sparse matrix.\n<code>\n", "result = m.sum()\n",
             _context(SP_SETUP, "    assert np.isclose(result, ans)", "from scipy import sparse\nm = test_input\n[insert]")),
    _problem(5, "Scipy", "Problem:\nIntegrate x**2 over x with the trapezoid rule.\n<code>\n",
             "from scipy import integrate\nresult = integrate.trapezoid(x ** 2, x)\n",
             _context(SP_SETUP2, "    assert np.isclose(result, ans)", "import numpy as np\nx = test_input\n[insert]")),
    _problem(6, "Sklearn", "Problem:\nStandardise the columns of X.\n<code>\n",
             "from sklearn.preprocessing import StandardScaler\nresult = StandardScaler().fit_transform(X)\n",
             _context(SK_SETUP, "    np.testing.assert_allclose(result, ans)", "import numpy as np\nX = test_input\n[insert]")),
    _problem(7, "Sklearn", "Problem:\nThe slope of a linear regression of y on X.\n<code>\n",
             "from sklearn.linear_model import LinearRegression\nresult = LinearRegression().fit(X, y).coef_[0]\n",
             _context(SK_SETUP2, "    assert np.isclose(result, ans)", "import numpy as np\nX, y = test_input\n[insert]")),
    _problem(8, "Matplotlib", "Problem:\nPlot y over x as one line; result = the number of lines.\n<code>\n",
             "plt.plot(x, y)\nresult = len(plt.gca().lines)\n",
             _context("    return (np.arange(10), np.arange(10) * test_case_id), 1", MPL_CHECK,
                      "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\nplt.figure()\n"
                      "x, y = test_input\n[insert]")),
    _problem(9, "Matplotlib", "Problem:\nSet the title to 'hi'; result = the title.\n<code>\n",
             "plt.title('hi')\nresult = plt.gca().get_title()\n",
             _context("    return test_case_id, 'hi'", MPL_CHECK,
                      "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\nplt.figure()\n"
                      "_ = test_input\n[insert]")),
]
IMPORT = {"Numpy": "numpy", "Pandas": "pandas", "Scipy": "scipy", "Sklearn": "sklearn", "Matplotlib": "matplotlib",
          "Pytorch": "torch", "Tensorflow": "tensorflow"}


@pytest.fixture(scope="module")
def env_libraries():
    env = ds1000_env()
    if env is None:
        pytest.skip("no DS-1000 eval environment: make ds1000-env")
    have = []
    for lib, module in IMPORT.items():
        r = subprocess.run([f"{env}/bin/python", "-c", f"import {module}"], capture_output=True)
        if r.returncode == 0:
            have.append(lib)
    return have


def test_ds1000_fixture_reference_passes_wrong_fails_per_library(cli, tmp_path, env_libraries):
    problems = [p for p in FIXTURE if p["metadata"]["library"] in env_libraries]
    assert {p["metadata"]["library"] for p in problems} >= {"Numpy", "Pandas", "Scipy", "Sklearn", "Matplotlib"}
    data = write_jsonl(tmp_path / "ds1000.jsonl", problems)
    # a model's output in completion mode: the solution, then </code> (DS-1000's postprocess cuts there)
    gens = [{"task_id": str(p["metadata"]["problem_id"]), "completion": p["reference_code"] + "</code>\nEND"}
            for p in problems]
    from stages.eval.benchmarks import load_benchmark_file
    from stages.eval.sanitize import ds1000_code
    bench = load_benchmark_file(data)
    assert bench.name == "ds1000" and len(bench.tasks) == len(problems)
    gens = [{**g, "completion": ds1000_code(g["completion"])} for g in gens]
    s = cli.json("eval", tmp_path / "ok", "--generations", write_jsonl(tmp_path / "g.jsonl", gens),
                 "--benchmarks", "", "--benchmark-file", data)["benchmarks"]["ds1000"]
    for protocol in ("strict", "deepseek"):
        groups = s["protocols"][protocol]["groups"]
        assert {g: v["pass@1"] for g, v in groups.items()} == {lib: 1.0 for lib in env_libraries
                                                                if lib in groups}, (protocol, groups)
    assert s["paper"]["pass@1"]["6.7b"] == 30.5
    # a wrong solution per library (the first problem of each: --limit 1 is per library)
    wrong = [{"task_id": g["task_id"], "completion": "result = None\n"} for g in gens]
    s = cli.json("eval", tmp_path / "bad", "--generations", write_jsonl(tmp_path / "w.jsonl", wrong),
                 "--benchmarks", "", "--benchmark-file", data, "--limit", 1)["benchmarks"]["ds1000"]
    for protocol in ("strict", "deepseek"):
        groups = s["protocols"][protocol]["groups"]
        assert set(groups) == {p["metadata"]["library"] for p in problems} and s["tasks"] == len(groups)
        assert s["protocols"][protocol]["statuses"].get("passed", 0) == 0, protocol
    reasons = [r["reason"] for r in read_jsonl(tmp_path / "bad" / "ds1000" / "results.jsonl")]
    assert all(r for r in reasons)


def test_ds1000_is_skipped_without_its_data_under_paper(cli, tmp_path):
    s = cli.json("eval", tmp_path / "o", "--benchmarks", "paper", "--steps", "prompts", "--data", tmp_path)
    assert "ds1000" in s["skipped"] and "ds1000.jsonl" in s["skipped"]["ds1000"]
