"""The dsscan explorer: a Streamlit app over the lake (run ``streamlit run streamlit_app/app.py``)."""
