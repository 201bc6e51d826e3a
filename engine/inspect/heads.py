"""Finding the classifier head and the input layer of a model, or saying honestly there is none."""

from __future__ import annotations

from torch import nn

# Model families whose output is not one classifier layer: boxes, masks, flow fields.
_NOT_CLASSIFIERS = (
    "torchvision.models.detection",
    "torchvision.models.segmentation",
    "torchvision.models.optical_flow",
)


def _is_linear(module: nn.Module) -> bool:
    # Covers nn.Linear, LazyLinear, and the quantized/QAT Linear classes (not subclasses).
    return isinstance(module, nn.Linear) or type(module).__name__ == "Linear"


def _is_conv(module: nn.Module) -> bool:
    # nn.Conv1d/2d/3d (and fused/QAT subclasses) plus quantized convs, which are not subclasses.
    if isinstance(module, nn.modules.conv._ConvNd):
        return not getattr(module, "transposed", False)
    # Fused float modules (ConvReLU2d as a Sequential) are containers: their child is the conv.
    names = ("Conv1d", "Conv2d", "Conv3d", "ConvReLU1d", "ConvReLU2d", "ConvReLU3d")
    return type(module).__name__ in names and hasattr(module, "in_channels")


def _is_pointwise_conv(module: nn.Module) -> bool:
    size = getattr(module, "kernel_size", None)
    return _is_conv(module) and size is not None and all(k == 1 for k in size)


def _path_of(model: nn.Module, target: nn.Module) -> str | None:
    for path, module in model.named_modules():
        if module is target:
            return path
    return None


def is_timm_model(model: nn.Module) -> bool:
    """Return True for a model timm built: it says itself where its head and stem are."""
    return type(model).__module__.startswith("timm.")


def _timm_first_layer(model: nn.Module) -> str | None:
    """The stem timm declares (pretrained_cfg["first_conv"]) when it is a conv or a Linear."""
    for attr in ("pretrained_cfg", "default_cfg"):
        cfg = getattr(model, attr, None)
        name = cfg.get("first_conv") if isinstance(cfg, dict) else None
        if isinstance(name, (tuple, list)):
            name = name[0] if name else None
        if isinstance(name, str) and name:
            try:
                module = model.get_submodule(name)
            except AttributeError:
                continue
            if _is_conv(module) or _is_linear(module):
                return name
    return None


def _timm_head(model: nn.Module) -> str | None:
    """The head timm declares (pretrained_cfg["classifier"] or get_classifier()), if any."""
    for attr in ("pretrained_cfg", "default_cfg"):
        cfg = getattr(model, attr, None)
        name = cfg.get("classifier") if isinstance(cfg, dict) else None
        if isinstance(name, (tuple, list)):
            name = name[0] if name else None
        if isinstance(name, str):
            try:
                module = model.get_submodule(name)
            except AttributeError:
                module = None
            if module is not None and (_is_linear(module) or _is_conv(module)):
                return name
    get_classifier = getattr(model, "get_classifier", None)
    if callable(get_classifier):
        try:
            module = get_classifier()
        except Exception:  # a user's get_classifier may need arguments or fail; ignore it
            return None
        if isinstance(module, nn.Module) and (_is_linear(module) or _is_conv(module)):
            return _path_of(model, module)
    return None


def companion_heads(model: nn.Module, head: str) -> list[str]:
    """Return the other heads whose outputs join `head`'s (timm's distilled ViTs: head_dist).

    timm lists them after the head in pretrained_cfg["classifier"]; a new head must replace
    them too, or their logits no longer add up.
    """
    for attr in ("pretrained_cfg", "default_cfg"):
        cfg = getattr(model, attr, None)
        names = cfg.get("classifier") if isinstance(cfg, dict) else None
        if isinstance(names, (tuple, list)) and len(names) > 1 and names[0] == head:
            found = []
            for name in names[1:]:
                try:
                    module = model.get_submodule(name)
                except AttributeError:
                    continue
                if _is_linear(module) or _is_conv(module):
                    found.append(name)
            return found
    return []


def is_classifier_family(model: nn.Module) -> bool:
    """Return False for detection, segmentation and optical-flow models (no logits out)."""
    return not type(model).__module__.startswith(_NOT_CLASSIFIERS)


def find_head(model: nn.Module, input_size: tuple[int, ...] | None = None) -> str | None:
    """Return the path of the classifier head, or None when the model has no single one.

    timm models say which layer it is, and when timm declares none (an encoder built with
    num_classes=0, whose head is an Identity) there is none; otherwise the head is the last layer with
    parameters in registration order when that layer is a Linear or a 1x1 conv
    (squeezenet's `classifier.1`, s3d's `classifier.1`). When registration order says
    no (a user registered `fc` before the convs), the last layer with parameters that a
    forward pass on meta tensors runs decides the same way; `input_size` is used for that
    pass, else one guessed from the first conv or Linear. A model that ends in a norm, a
    3x3 conv or an RNN has no head we would dare to replace; detection, segmentation and
    optical-flow models return None too.
    """
    if not is_classifier_family(model):
        return None
    declared = _timm_head(model)
    if declared is not None or is_timm_model(model):
        return declared  # never a Linear from inside a timm model's body
    last_path, last = None, None
    for path, module in model.named_modules():
        if path and _has_weights(module):
            last_path, last = path, module
    if last is None:
        return None
    if _is_linear(last) or _is_pointwise_conv(last):
        return last_path
    return _head_in_forward_order(model, input_size)


def _has_weights(module: nn.Module) -> bool:
    """Own parameters, or a quantized Linear/conv (its weights are packed, not parameters)."""
    if any(p is not None for p in module._parameters.values()):
        return True
    return _is_linear(module) or _is_conv(module)


def _guess_input_size(model: nn.Module) -> tuple[int, ...] | None:
    """An input size the first conv (else the first Linear) accepts, batch 1, or None."""
    modules = list(model.modules())
    for module in modules:
        if _is_conv(module) and isinstance(getattr(module, "in_channels", None), int):
            side = {1: (224,), 2: (224, 224), 3: (16, 112, 112)}[len(module.kernel_size)]
            return (1, module.in_channels, *side)
    for module in modules:
        if _is_linear(module) and isinstance(getattr(module, "in_features", None), int):
            return (1, module.in_features)
    return None


def _head_in_forward_order(model: nn.Module, input_size: tuple[int, ...] | None) -> str | None:
    """The last layer with parameters that a forward pass on meta runs, when it is a head."""
    import torch

    from engine.inspect.meta import meta_copy

    size = input_size or _guess_input_size(model)
    if size is None:
        return None
    copied = meta_copy(model)
    ran: list[str] = []

    def record(path: str):  # a hook that returns None, so outputs pass through unchanged
        def hook(_module: nn.Module, _inputs: object, _output: object) -> None:
            ran.append(path)
        return hook

    handles = [module.register_forward_hook(record(path))
               for path, module in copied.named_modules() if path and _has_weights(module)]
    floats = [p.dtype for p in copied.parameters() if p.dtype.is_floating_point]
    try:
        with torch.no_grad():
            copied.eval()(torch.empty(size, device="meta", dtype=floats[0] if floats else None))
    except Exception:  # the guessed size does not fit, or meta cannot run it: no answer
        return None
    finally:
        for handle in handles:
            handle.remove()
    if not ran:
        return None
    last = copied.get_submodule(ran[-1])
    return ran[-1] if _is_linear(last) or _is_pointwise_conv(last) else None


def find_input_conv(model: nn.Module) -> str | None:
    """Return the path of the first conv in registration order (stem, patch embedding), or None.

    A timm model's declared stem (`first_conv`) comes first when it is a conv.
    """
    declared = _timm_first_layer(model)
    if declared is not None and _is_conv(model.get_submodule(declared)):
        return declared
    for path, module in model.named_modules():
        if _is_conv(module):
            return path
    return None


def find_input_layer(model: nn.Module) -> str | None:
    """Return the path of the layer the input enters first: a conv or a Linear patch embedding.

    timm's declared stem (`first_conv`, a Linear in naflexvit and gemma4_vit) when there is
    one, else the first conv in registration order, or None.
    """
    return _timm_first_layer(model) or find_input_conv(model)
