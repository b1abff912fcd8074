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
                out[i] = (x * weights.unsqueeze(-1)).sum(1) / weights.sum(-1, keepdim=True).clamp(min=1e-9)
        return fn

    forward_through(lm, input_ids, attention_mask, {i: make(i) for i in sorted(set(layers))})
    return out


@contextmanager
def add_to_residual(lm: LoadedModel, additions: Mapping[int, Tensor],
                    mask: Tensor | Callable[[Tensor], Tensor | None] | None = None) -> Iterator[None]:
    """Add vectors to the residual stream after chosen blocks (the steering primitive).

    ``additions[layer]`` is ``[D]`` (same for every row) or ``[B, D]`` (per row). ``mask`` selects positions:
    ``None`` for all, a ``[B, T]`` tensor matching the input, or a function of the hidden state returning
    such a mask (useful during generation, where each step sees new positions).

    Example:
        >>> with add_to_residual(lm, {10: 4.0 * v}):  # doctest: +SKIP
        ...     lm.model.generate(...)
    """
    def make(vec: Tensor) -> HookFn:
        def fn(h: Tensor) -> Tensor:
            add = vec.to(h.dtype).to(h.device)
            add = add.view(1, 1, -1) if add.dim() == 1 else add.unsqueeze(1)
            m = mask(h) if callable(mask) else mask
            if m is None:
                return h + add
            return h + add * m.to(h.dtype).to(h.device).unsqueeze(-1)
        return fn

    with block_hooks(lm.blocks, {i: make(v) for i, v in additions.items()}):
        yield
