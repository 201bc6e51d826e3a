"""The ptm-tui engine, one package per thing a user does: get a model (`models`), look inside
(`inspect`), change it (`edit`), use it (`use`), train it (`train`) and run training detached
(`jobs`). Each may import only the packages before it in that list; the shared basics beside
this file (`errors`, `atomic`, `paths`, `outputs`, `home`, `words`) import nothing of ours but `errors`.
Never imports the UI (textual, rich, tui).
"""
