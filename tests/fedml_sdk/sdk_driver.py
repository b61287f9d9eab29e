"""Runs one storage call of the real FedML Python SDK 0.9.6 in "local" (on-premise) mode against
our server, and prints its FedMLResponse as JSON on the last line of stdout.

    python sdk_driver.py HOST PORT CALL [ARGS as JSON]

`import fedml` imports torch, numpy, docker, MQTT and more at import time, none of which the
storage calls use. Those packages (and only those) are replaced by empty stand-in modules, so the
SDK's own storage code runs unchanged on its real dependencies (requests, boto3, …).
"""
import importlib.abc
import importlib.machinery
import json
import sys
import types

# Imported by `fedml/__init__.py` and its training/serving modules, never on the storage path.
STUBBED = {
    "multiprocess", "numpy", "torch", "torchvision", "docker", "GPUtil", "scipy", "psutil", "packaging", "paho",
    "wandb", "redis", "sqlalchemy", "httpx", "fastapi", "pandas", "pydantic", "dill", "h5py", "PIL", "wget",
}


class _Anything:
    def __init__(self, name):
        self._name = name

    def __call__(self, *args, **kwargs):
        return _Anything(self._name + "()")

    def __getattr__(self, name):
        return _Anything(f"{self._name}.{name}")

    def __mro_entries__(self, bases):
        return (object,)

    def __iter__(self):
        return iter(())


class _StubModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Anything(f"{self.__name__}.{name}")


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] not in STUBBED:
            return None
        return importlib.machinery.ModuleSpec(name, self, is_package=True)

    def create_module(self, spec):
        return _StubModule(spec.name)

    def exec_module(self, module):
        module.__path__ = []


def to_json(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if hasattr(value, "__dict__"):
        return {k: to_json(v) for k, v in vars(value).items()}
    return str(value)


def main():
    host, port, call = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    args = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
    sys.meta_path.append(_StubFinder())
    import fedml
    import fedml.api

    fedml.set_env_version("local")
    fedml.set_local_on_premise_platform_host(host)
    fedml.set_local_on_premise_platform_port(port)
    try:
        result = getattr(fedml.api, call)(**args)
    except SystemExit as e:
        print(json.dumps({"raised": "SystemExit", "detail": str(e)}))
        return
    if isinstance(result, tuple):
        # fedml_login answers (code, api_key): keep the key out of the output.
        print(json.dumps({"tuple": [result[0], "<api key>" if result[1] else None]}))
        return
    print(json.dumps({"code": result.code.name, "message": result.message, "data": to_json(result.data)}))


if __name__ == "__main__":
    main()
