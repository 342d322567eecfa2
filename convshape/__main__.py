"""`python -m convshape ...`: the same entry point as the `convshape` console script."""
from .cli import main

if __name__ == "__main__":
    main()
