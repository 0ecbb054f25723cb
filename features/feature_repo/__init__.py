"""The Feast feature repository: definitions only, one module per kind.

Order (as in Feast's own template): entities -> data sources -> feature views
-> on-demand feature views -> versioned feature services. The Python API in
`features.feature_store` collects these objects and applies them against the
effective `feature_store.yaml` written into the data directory.
"""
