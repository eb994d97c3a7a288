"""The tool policy: path normalisation and permissions, the approval policy, the command-line reading.

Pure rules like :mod:`agent_runtime.agents`: nothing here does I/O except reading the optional policy YAML file when
the composition root asks for it.
"""
