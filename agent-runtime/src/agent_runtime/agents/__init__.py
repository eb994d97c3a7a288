"""Agents as data and the pure rules the agent loop applies: tools, routing, context, plans.

The tool policy (permissions, approval, commands) is :mod:`agent_runtime.guardrails`.

Nothing here does I/O except reading optional YAML configuration files when asked; the LLM is reached only through
:class:`agent_runtime.agents.routing.ClassifierModel`.
"""
