"""Option types shared by several commands (``Annotated`` aliases, so every command spells them the same)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Registered name (smollm2-135m-instruct, "
                                       "gemma3-270m, qwen2.5-coder-0.5b-instruct), a local .gguf file, a local "
                                       "directory or a Hugging Face id (offline).")]
DtypeOpt = Annotated[str, typer.Option(help="Compute dtype: auto (bfloat16 where the device computes it natively: "
                                       "GPUs of compute capability 8 or more, CPUs with AVX512-BF16 or AMX; float16 "
                                       "on other GPUs; float32 otherwise), bfloat16, float32 or float16. Stored "
                                       "vectors are always float32.")]
DeviceOpt = Annotated[str, typer.Option(envvar="EMOSCOPE_DEVICE", help="Where to run: auto (CUDA if available, "
                                        "else Apple MPS, else CPU), cpu, cuda, cuda:N or mps.")]
DeviceMapOpt = Annotated[str | None, typer.Option(envvar="EMOSCOPE_DEVICE_MAP", help="Spread a model that does "
                                                  "not fit one device over several (accelerate): auto, balanced, "
                                                  "or a JSON file {module: device} ('disk' offloads). Replaces "
                                                  "--device.")]
MaxMemoryOpt = Annotated[str | None, typer.Option(help="With --device-map: memory per device, e.g. "
                                                  "'0=20GiB,1=20GiB,cpu=64GiB'.")]
OffloadOpt = Annotated[Path | None, typer.Option(envvar="EMOSCOPE_OFFLOAD_FOLDER", help="With --device-map: where "
                                                 "modules mapped to disk go (default: under the emoscope cache).")]
AllowPickleOpt = Annotated[bool, typer.Option(help="Load pickle checkpoints (pytorch_model.bin) of a model that has "
                                              "no safetensors; only for files you trust.")]
BankOpt = Annotated[Path, typer.Option(help="Bank directory or bank.safetensors file.")]
BankModelOpt = Annotated[str | None, typer.Option("--model", "-m", help="Model (default: the bank's).")]
MismatchOpt = Annotated[bool, typer.Option(help="Use the bank with another model anyway.")]
PromptOpt = Annotated[str | None, typer.Option(help="A user message (rendered with the chat template).")]
ChatFileOpt = Annotated[Path | None, typer.Option(help="JSON file: a list of {\"role\", \"content\"} messages.")]
ReadLayerOpt = Annotated[int | None, typer.Option(help="Block to read at (default: the bank's default).")]
MaxNewTokensOpt = Annotated[int, typer.Option(min=1, help="Tokens to generate.")]
SampleOpt = Annotated[bool, typer.Option(help="Sample instead of greedy decoding.")]
TemperatureOpt = Annotated[float, typer.Option(min=0.0, help="Sampling temperature (with --sample).")]
SeedOpt = Annotated[int, typer.Option(help="Seed for sampling.")]

AlertOpt = Annotated[list[str] | None, typer.Option(
    "--alert", help="Alert rule EMOTION>VALUE[@WINDOW] on the mean reading of the last WINDOW tokens, e.g. "
    "'desperate>2.0' or 'calm<-1@16' (repeatable). Fires when it starts and stops holding.")]
WhenOpt = Annotated[list[str] | None, typer.Option(
    "--when", help="Conditional steering: apply the --steer given in the same position from the next token on "
    "while this rule holds, e.g. --when 'desperate>2.0' --steer 'calm=+0.05' (repeatable).")]
SteerListOpt = Annotated[list[str] | None, typer.Option(
    "--steer", help="Steering EMOTION=STRENGTH[,...] in the paper's unit. Alone: applied throughout; paired "
    "with --when: applied while the rule holds.")]
WatchOpt = Annotated[str | None, typer.Option(help="Emotions to follow with sparklines (default: those of the "
                                              "rules, then desperate, calm, afraid, happy).")]
ViewOpt = Annotated[str, typer.Option(help="auto (live panel on a terminal, lines otherwise), live, lines or "
                                      "json (one JSON object per token and event).")]
WindowOpt = Annotated[int, typer.Option(min=1, help="Default window of the rules, in tokens.")]

EngineOpt = Annotated[str, typer.Option(help="Where the forward passes run: 'local' (this process) or 'ray' (Ray "
                                        "actors, one model each; pip install 'emoscope[ray]'). Same result.")]
AddressOpt = Annotated[str | None, typer.Option(help="With --engine ray: an existing cluster ('auto', "
                                                "'ray://head:10001'); default: a local one started for the run.")]
WorkersOpt = Annotated[int, typer.Option(min=1, help="With --engine ray: worker actors (one model each).")]
GpusPerWorkerOpt = Annotated[float, typer.Option(min=0.0, help="With --engine ray: GPUs per worker (the model "
                                                 "is then loaded on cuda in each).")]
