"""The app's helpers: the only Streamlit code outside pages/. Pages import them as a package
(`from app import explorer, state`), so what a page depends on is in its imports."""
