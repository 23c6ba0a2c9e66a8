"""Checks of user data shared by :func:`sklimb.compare` and the ``sklimb`` command."""

from __future__ import annotations


def check_numeric_columns(X, source=None):
    """Raise a ``ValueError`` naming the non-numeric columns of a DataFrame ``X``.

    Anything without ``dtypes`` (arrays, lists) passes; scikit-learn's own
    validation reports its problems.
    """
    dtypes = getattr(X, "dtypes", None)
    if dtypes is None or not hasattr(dtypes, "items"):
        return
    non_numeric = [str(column) for column, dtype in dtypes.items()
                   if getattr(dtype, "kind", "O") not in "biuf"]
    if non_numeric:
        where = f" of {source}" if source else ""
        raise ValueError(f"feature columns {non_numeric}{where} are not numeric; encode them "
                         "(for example one-hot) or drop them first.")
