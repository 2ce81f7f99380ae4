"""Write the built-in demo table, resources/samples/wine.csv, from scikit-learn's bundled wine data.

178 wines from three cultivars with 13 chemical measurements (Forina et al., UCI), as shipped in
``sklearn.datasets.load_wine``. The cultivar becomes a metadata/target column named ``cultivar``.
"""

from pathlib import Path

from sklearn.datasets import load_wine

OUT = Path(__file__).resolve().parents[1] / "resources" / "samples" / "wine.csv"


def main() -> None:
    data = load_wine(as_frame=True)
    frame = data.frame.rename(columns={"target": "cultivar", "od280/od315_of_diluted_wines": "od280_od315"})
    frame["cultivar"] = frame["cultivar"] + 1
    OUT.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(OUT, index=False, float_format="%.6g")
    print(f"wrote {OUT} ({len(frame)} rows, {frame.shape[1]} columns)")


if __name__ == "__main__":
    main()
