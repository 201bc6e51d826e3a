"""Parameter groups the way finetuners use them: head vs backbone lr, no decay on biases/norms."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from engine.train.config import TrainConfig

NORM_TYPES: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm,
    nn.modules.instancenorm._InstanceNorm, *((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ()),
)


@dataclass
class ParamGroup:
    """One optimizer group: which layers, how many parameters, its lr and weight decay."""

    name: str
    lr: float
    weight_decay: float
    names: list[str] = field(default_factory=list)
    params: list[nn.Parameter] = field(default_factory=list, repr=False)
    layers: list[str] = field(default_factory=list)
    """The module paths the parameters belong to (in model order, each once)."""

    @property
    def count(self) -> int:
        """The number of scalar parameters in the group."""
        return sum(p.numel() for p in self.params)

    def to_optimizer(self) -> dict:
        """Return the dict torch.optim expects for this group."""
        return {"params": self.params, "lr": self.lr, "weight_decay": self.weight_decay,
                "name": self.name}


def find_head(model: nn.Module) -> str:
    """Return the path of the model's head (engine.inspect.heads' rule, else the last Linear)."""
    from engine.inspect.heads import find_head as classifier_head

    found = classifier_head(model)
    if found:
        return found
    last_linear = last_leaf = ""
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last_linear = name
        if not any(True for _ in module.children()) and any(True for _ in module.parameters(False)):
            last_leaf = name
    return last_linear or last_leaf


def head_of(model: nn.Module, config: TrainConfig) -> str:
    """Return the head path to use: config.head when given, else the found head."""
    return config.head if config.head is not None else find_head(model)


def lrs(config: TrainConfig) -> tuple[float, float]:
    """Return (head lr, backbone lr): lr and lr/10 by default; with head_lr, head_lr and lr."""
    head_lr = config.head_lr if config.head_lr is not None else config.lr
    if config.backbone_lr is not None:
        backbone_lr = config.backbone_lr
    else:
        # with layer_decay the decay shrinks the lower layers' lr instead of the tenth
        tenth = config.head_lr is None and config.layer_decay >= 1
        backbone_lr = config.lr / 10 if tenth else config.lr
    return head_lr, backbone_lr


def _in(name: str, prefix: str) -> bool:
    return prefix == "" or name == prefix or name.startswith(prefix + ".")


def param_groups(model: nn.Module, config: TrainConfig,
                 head: str | None = None) -> list[ParamGroup]:
    """Return the non-empty groups of trainable parameters (frozen ones never appear); with
    layer_decay, a group per layer of the backbone, its lr scaled as timm scales it."""
    head = head_of(model, config) if head is None else head
    head_lr, backbone_lr = lrs(config)
    scales: dict[str, tuple[int, float]] = {}
    if config.layer_decay < 1:
        from engine.train.layer_decay import layer_scales

        scales = layer_scales(model, config.layer_decay)
    no_decay_names: set[str] = set()
    owner: dict[str, str] = {}
    for mod_name, module in model.named_modules():
        for p_name, _ in module.named_parameters(recurse=False):
            full = f"{mod_name}.{p_name}" if mod_name else p_name
            owner[full] = mod_name
            if isinstance(module, NORM_TYPES):
                no_decay_names.add(full)
    groups: dict[str, ParamGroup] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        part = "head" if head and _in(name, head) else "backbone"
        lr = head_lr if part == "head" else backbone_lr
        is_bias = name.endswith("bias") or (param.ndim <= 1 and name not in no_decay_names)
        if is_bias:
            kind, lr, wd = "bias", lr * config.bias_lr_mult, 0.0
        elif name in no_decay_names:
            kind, wd = "norm", 0.0
        else:
            kind, wd = "weights", config.weight_decay
        key = f"{part} {kind}"
        if part == "backbone" and name in scales:
            layer, scale = scales[name]
            key, lr = f"{key} layer {layer}", lr * scale
        group = groups.setdefault(key, ParamGroup(key, lr, wd))
        group.names.append(name)
        group.params.append(param)
        layer = owner.get(name, "")
        if layer not in group.layers:
            group.layers.append(layer)
    kinds = ("weights", "norm", "bias")

    def place(key: str) -> tuple[int, int, int]:
        part, kind, *layer = key.split(" ")
        return (part != "head", -int(layer[-1]) if layer else 0, kinds.index(kind))

    return [groups[key] for key in sorted(groups, key=place)]


def summarize_layers(layers: list[str], limit: int = 4) -> str:
    """Return a short description of a list of module paths ("fc" or "layer4.0.conv1 ... (+12)")."""
    shown = [layer or "(root)" for layer in layers[:limit]]
    more = len(layers) - len(shown)
    return ", ".join(shown) + (f" (+{more} more)" if more > 0 else "")
