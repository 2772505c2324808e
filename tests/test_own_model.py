"""A user's own model in a baked project, put in as its README says: the project's gates pass
with no edit to any of its tests."""

import json
import re
from pathlib import Path

import pytest

from .conftest import bake, require, run

# What a user writes: the features of their data, and the training function of train.py. The
# predictor's load and predict stay as generated, since they serve any classifier of the kind.
WINE_FEATURES = """
    alcohol: BoundedFloat
    malic_acid: BoundedFloat
    ash: BoundedFloat
    alcalinity_of_ash: BoundedFloat
    magnesium: Annotated[int, Field(ge=0, le=1000)]
    total_phenols: BoundedFloat
    flavanoids: BoundedFloat
    nonflavanoid_phenols: BoundedFloat
    proanthocyanins: BoundedFloat
    color_intensity: BoundedFloat
    hue: BoundedFloat
    od280_od315_of_diluted_wines: BoundedFloat
    proline: BoundedFloat
"""

WINE_TRAIN = '''
def train(output: Path, *, seed: int = 0) -> Path:
    """A random forest on scikit-learn's wine data: three classes of wine."""
    data = load_wine()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.25, random_state=seed, stratify=data.target
    )
    model = RandomForestClassifier(n_estimators=50, random_state=seed)
    model.fit(x_train, y_train)
    output.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, output)
    metadata = describe_model(
        str(output),  # a path as a string works as well as a Path
        framework=Predictor.framework,
        features=Features,
        x_train=x_train,
        classes=[str(name) for name in data.target_names],
        evaluation={"accuracy": float(model.score(x_test, y_test))},
    )
    write_metadata(str(output), metadata)
    return output
'''

IRIS_FEATURES = """
    sepal_length: BoundedFloat
    sepal_width: BoundedFloat
    petal_length: BoundedFloat
    petal_width: BoundedFloat
"""

IRIS_TRAIN = '''
def train(output: Path, *, seed: int = 0) -> Path:
    """Boosted trees on scikit-learn's iris data: three species."""
    data = load_iris()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.25, random_state=seed, stratify=data.target
    )
    model = xgb.XGBClassifier(n_estimators=30, max_depth=3, objective="multi:softprob")
    model.fit(x_train, y_train)
    output.parent.mkdir(parents=True, exist_ok=True)
    model.get_booster().save_model(output)
    metadata = describe_model(
        output,
        framework=Predictor.framework,
        features=Features,
        x_train=x_train,
        classes=[str(name) for name in data.target_names],
        evaluation={"accuracy": float(model.score(x_test, y_test))},
    )
    write_metadata(output, metadata)
    return output
'''

MODELS = {
    "sklearn": (
        WINE_FEATURES,
        WINE_TRAIN,
        "from sklearn.datasets import load_wine\n"
        "from sklearn.ensemble import RandomForestClassifier\n",
    ),
    "xgboost": (IRIS_FEATURES, IRIS_TRAIN, "from sklearn.datasets import load_iris\n"),
}


def put_in_own_model(project: Path, framework: str) -> None:
    """Replace the fields of Features, and train() in train.py, as the README says."""
    features, train, imports = MODELS[framework]
    package = project / "src" / "model_service"
    predictor = (package / "predictor.py").read_text()
    fields = re.compile(r"(    model_config = .*?\n\n)(    \w+: BoundedFloat\n)+", re.DOTALL)
    predictor, count = fields.subn(lambda match: match.group(1) + features.lstrip("\n"), predictor)
    assert count == 1, "the Features fields were not found"
    predictor = predictor.replace(
        "from pydantic import BaseModel, ConfigDict",
        "from typing import Annotated\n\nfrom pydantic import BaseModel, ConfigDict, Field",
    )
    (package / "predictor.py").write_text(predictor)

    script = (package / "train.py").read_text()
    start, end = script.index("\ndef train("), script.index("\ndef main(")
    script = script[:start] + train + "\n" + script[end:]
    script = re.sub(r"from sklearn\.datasets import load_breast_cancer\n", imports, script)
    (package / "train.py").write_text(script)


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["sklearn", "xgboost"])
def test_a_baked_project_passes_its_gates_with_another_model_and_no_test_edited(
    tmp_path: Path, framework: str
) -> None:
    require("uv")
    require("make")
    project = bake(tmp_path, model_framework=framework)
    tests_before = {path: path.read_text() for path in (project / "tests").rglob("*.py")}
    put_in_own_model(project, framework)
    run(["make", "install"], cwd=project)
    # `make format` formats even when `ruff check` finds what it cannot fix (E741 here).
    scratch = project / "src" / "model_service" / "scratch.py"
    scratch.write_text("l = (  1  )\n")
    run(["make", "format"], cwd=project)  # as a user would after editing: imports sorted too
    assert scratch.read_text() == "l = 1\n"
    scratch.unlink()
    run(["make", "lint"], cwd=project)
    output = run(["make", "test"], cwd=project)
    assert " passed" in output
    assert "skipped" not in output
    assert {path: path.read_text() for path in (project / "tests").rglob("*.py")} == tests_before
    # And it serves the new model: three classes, the new features.
    trained = run(["make", "train"], cwd=project)
    assert "saved models/" in trained
    metadata = json.loads((project / "models" / "model.metadata.json").read_text())
    assert len(metadata["classes"]) == 3
    names = re.findall(r"^    (\w+):", MODELS[framework][0], re.MULTILINE)
    assert [feature["name"] for feature in metadata["features"]] == names
