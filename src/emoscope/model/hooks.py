"""The hook engine: read and write the residual stream without mutating the model.

Every hook is installed by a context manager and removed in ``finally``. Hooks act only for the call that
installed them: each installation gets a token kept in a :class:`contextvars.ContextVar`, so a forward pass
run by another thread (another request of a server) never sees this call's reading or steering.

Example:
    >>> import torch
    >>> acts = record(lm, ids, mask, layers=[3, 5])  # doctest: +SKIP
    >>> acts[3].shape  # [batch, tokens, d_model]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from emoscope.model.loading import LoadedModel

HookFn = Callable[[Tensor], Tensor | None]

_ACTIVE: ContextVar[frozenset[int]] = ContextVar("emoscope_active_hooks", default=frozenset())
_next_token = iter(range(1, 1 << 62))


class _StopForward(Exception):
    """Raised by a hook after the deepest layer needed, to skip the rest of the forward pass."""


@contextmanager
def block_hooks(blocks: Sequence[nn.Module] | nn.ModuleList, fns: Mapping[int, HookFn]) -> Iterator[None]:
    """Install ``fns[i]`` on the output of block ``i``; a function may return a replacement tensor.

    The hooks act only inside this context and only for forward passes in the same context (thread or task).
    """
    token = next(_next_token)
    handles = []
    reset = _ACTIVE.set(_ACTIVE.get() | {token})
    try:
        for i, fn in fns.items():
            def hook(_mod: nn.Module, _args: Any, output: Any, fn: HookFn = fn) -> Any:
                if token not in _ACTIVE.get():
                    return None
                hidden = output[0] if isinstance(output, tuple) else output
                new = fn(hidden)
                if new is None:
                    return None
                return (new, *output[1:]) if isinstance(output, tuple) else new

            handles.append(blocks[i].register_forward_hook(hook))
        yield
    finally:
        for h in handles:
            h.remove()
        _ACTIVE.reset(reset)


def position_ids(attention_mask: Tensor) -> Tensor:
    """Positions counted over real tokens only, so left and right padding give the same positions."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def _base(lm: LoadedModel) -> nn.Module:
    base = getattr(lm.model, "base_model", None)
    return base if isinstance(base, nn.Module) else lm.model


def forward_through(lm: LoadedModel, input_ids: Tensor, attention_mask: Tensor,
                    fns: Mapping[int, Callable[[Tensor], None]]) -> None:
    """Run the model on a padded batch, calling ``fns[i](hidden)`` on the output of block ``i``.

    Positions are computed from the attention mask (padding-side independent); the pass stops after the
    deepest block in ``fns`` and never reaches the final norm or the vocabulary logits.
    """
    if not fns:
        raise ValueError("no layers requested")
    last = max(fns)

    def wrap(i: int, fn: Callable[[Tensor], None]) -> HookFn:
        def hook(h: Tensor) -> None:
            fn(h)
            if i == last:
                raise _StopForward
        return hook

    with torch.no_grad(), block_hooks(lm.blocks, {i: wrap(i, f) for i, f in fns.items()}):
        try:
            _base(lm)(input_ids=input_ids.to(lm.device), attention_mask=attention_mask.to(lm.device),
                      position_ids=position_ids(attention_mask).to(lm.device), use_cache=False)
        except _StopForward:
            pass


def record(lm: LoadedModel, input_ids: Tensor, attention_mask: Tensor, layers: Sequence[int],
           token_weights: Tensor | None = None) -> dict[int, Tensor]:
    """Residual stream after each block in ``layers`` for a padded batch, in float32.

    Without ``token_weights`` the result per layer is ``[B, T, D]`` (padding positions hold whatever the model
    computed there: mask them yourself). With ``token_weights`` (``[B, T]``, e.g. a 0/1 mask of the tokens to
    average) the result is the weighted mean over tokens, ``[B, D]``.

    Example:
        >>> out = record(lm, ids, mask, [0, 1], token_weights=mask)  # doctest: +SKIP
    """
    out: dict[int, Tensor] = {}
    weights = None if token_weights is None else token_weights.to(torch.float32).to(lm.device)

    def make(i: int) -> Callable[[Tensor], None]:
        def fn(h: Tensor) -> None:
            x = h.to(torch.float32)
            if weights is None:
                out[i] = x
            else:
                w = weights.to(x.device)  # with a device map, block i may live on another device
                out[i] = (x * w.unsqueeze(-1)).sum(1) / w.sum(-1, keepdim=True).clamp(min=1e-9)
        return fn

    forward_through(lm, input_ids, attention_mask, {i: make(i) for i in sorted(set(layers))})
    return out


POSITIONS = ("all", "prompt", "generated", "span")


class AdditionError(ValueError):
    """Vectors or a position mask that do not fit the batch being run."""


@dataclass
class Passes:
    """Forward passes a steering hook has seen, per block (``prompt`` positions steer only the first)."""

    seen: dict[int, int] = field(default_factory=dict)


@contextmanager
def add_vectors(lm: LoadedModel, vectors: Mapping[int, Any], positions: str = "all", mask: Any = None
                ) -> Iterator[Passes]:
    """Add vectors to the residual stream after chosen blocks: the one steering hook of emoscope.

    ``vectors[block]`` is ``[D]`` (every row) or ``[B, D]`` (one per batch row), a NumPy array or a tensor; it is
    moved to each block's own device and dtype. ``positions`` chooses where: ``all`` (every forward pass),
    ``prompt`` (the first pass of a generation, i.e. the prompt), ``generated`` (every later pass) or ``span``
    (the prompt positions where ``mask``, ``[B, T]`` over the padded prompt, is 1; first pass only). A pass with
    more than one new token counts as a prompt pass.

    Example:
        >>> with add_vectors(lm, {10: 4.0 * v}):  # doctest: +SKIP
        ...     logits = lm.model(input_ids=ids).logits
    """
    if positions not in POSITIONS:
        raise ValueError(f"positions must be one of {', '.join(POSITIONS)}, not {positions!r}")
    if positions == "span" and mask is None:
        raise ValueError("positions 'span' needs a [batch, tokens] mask")
    adds = {b: torch.as_tensor(v, dtype=torch.float32) for b, v in vectors.items()}
    span = None if mask is None else torch.as_tensor(mask, dtype=torch.float32)
    passes = Passes()
    placed: dict[tuple[int, Any, Any], Tensor] = {}

    def on(block: int, h: Tensor) -> Tensor:
        """The addition for ``block`` on ``h``'s device and dtype (converted once per device)."""
        key = (block, h.device, h.dtype)
        if key not in placed:
            placed[key] = adds[block].to(device=h.device, dtype=h.dtype)
        return placed[key]

    def make(block: int) -> HookFn:
        def fn(h: Tensor) -> Tensor | None:
            n = passes.seen.get(block, 0)
            passes.seen[block] = n + 1
            first = n == 0 or h.shape[1] > 1
            if positions in ("prompt", "span") and not first or positions == "generated" and first:
                return None
            add = on(block, h)
            if add.dim() == 2 and add.shape[0] not in (1, h.shape[0]):
                raise AdditionError(f"{add.shape[0]} per-row vectors for a batch of {h.shape[0]}")
            add = add.view(1, 1, -1) if add.dim() == 1 else add.unsqueeze(1)
            if span is None:
                return h + add
            if tuple(span.shape) != tuple(h.shape[:2]):
                raise AdditionError(f"position mask of shape {tuple(span.shape)} does not match the prompt batch "
                                 f"{tuple(h.shape[:2])}")
            return h + add * span.to(device=h.device, dtype=h.dtype).unsqueeze(-1)
        return fn

    with block_hooks(lm.blocks, {b: make(b) for b in adds}):
        yield passes
