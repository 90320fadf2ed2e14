"""`pipeline(task)` and `load(path)`: the one-line user API, in Hugging Face's and TF Hub's shapes.

    import mmpretrain
    classify = mmpretrain.pipeline("sentiment-analysis")
    classify("This is a great movie!")            # [{'label': 'POSITIVE', 'score': 0.97}]
    classify(["Great!", "Awful."], top_k=2)       # [[{...}, {...}], [{...}, {...}]]
    mmpretrain.pipeline("image-classification")("shoe.png")        # top 5 [{'label', 'score'}]
    mmpretrain.pipeline("audio-classification")("yes.wav")         # top 5 [{'label', 'score'}]
    mmpretrain.pipeline("fill-mask")("This is a great [MASK].")    # [{'score', 'token', 'token_str', 'sequence'}]
    mmpretrain.pipeline("feature-extraction")("Hello")             # [[[...D floats] per token]]
    mmpretrain.pipeline("summarization")(long_text, num_beams=4)   # [{'summary_text': ...}]
    mmpretrain.pipeline("translation", src_lang="en", tgt_lang="de")("A text editor")  # [{'translation_text'}]
    mmpretrain.pipeline("automatic-speech-recognition")("hello.wav")   # {'text': 'hello world'}
    mmpretrain.pipeline("zero-shot-image-classification")("cat.png", candidate_labels=["cat face", "apple"])

    embed = mmpretrain.load("saved_models/mmpretrain_tiny")        # like hub.load(...)
    embed(["This is a great movie!"])                              # tf.Tensor [1, D]

Tasks and their default models (the newest version in saved_models/, see `models_root()`):

    sentiment-analysis, text-classification  saved_models/sentiment             apps/sentiment/train.py
    image-classification                     saved_models/image_classification  apps/image_classification/train.py
    audio-classification                     saved_models/keyword_spotting      apps/keyword_spotting/train.py
    feature-extraction                       saved_models/mmpretrain_tiny       mmpretrain export
    fill-mask                                saved_models/fill_mask             apps/fill_mask/export.py
    summarization                            saved_models/summarization         apps/summarization/train.py
    translation_en_to_de (_fr), translation  saved_models/translation_en_to_de  apps/translation/train.py --target de
    automatic-speech-recognition             saved_models/speech_to_text        apps/speech_to_text/train.py
    zero-shot-image-classification, zero-shot-audio-classification
                                             saved_models/retrieval             apps/retrieval/train.py

`model=` takes a model directory (NAME/, newest version) or a version directory. Inputs: strings,
file paths, numpy arrays, bytes, or lists of them. The model's modality record reads them
(`decode`: checks and converts, `collate`: raw batches for the signature; see
`mmpretrain.modalities`), so every bad input is a ValueError that says what was received and
what is accepted, the same in every pipeline and in `load()`.
"""

import difflib
import os

import numpy as np

TASK_ALIASES = {
    "sentiment-analysis": "text-classification",
    "text-classification": "text-classification",
    "image-classification": "image-classification",
    "audio-classification": "audio-classification",
    "feature-extraction": "feature-extraction",
    "fill-mask": "fill-mask",
    "summarization": "summarization",
    "translation": "translation",
    "translation_en_to_de": "translation_en_to_de",
    "translation_en_to_fr": "translation_en_to_fr",
    "automatic-speech-recognition": "automatic-speech-recognition",
    "zero-shot-image-classification": "zero-shot-image-classification",
    "zero-shot-audio-classification": "zero-shot-audio-classification",
}
TRANSLATION_PAIRS = (("en", "de"), ("en", "fr"))
DEFAULT_MODELS = {
    "text-classification": "sentiment",
    "image-classification": "image_classification",
    "audio-classification": "keyword_spotting",
    "feature-extraction": "mmpretrain_tiny",
    "fill-mask": "fill_mask",
    "summarization": "summarization",
    "translation_en_to_de": "translation_en_to_de",
    "translation_en_to_fr": "translation_en_to_fr",
    "automatic-speech-recognition": "speech_to_text",
    "zero-shot-image-classification": "retrieval",
    "zero-shot-audio-classification": "retrieval",
}
ZERO_SHOT_MODALITY = {"zero-shot-image-classification": "image", "zero-shot-audio-classification": "audio"}
DEFAULT_HYPOTHESIS_TEMPLATE = "{}"  # the retrieval model is aligned on bare captions ("grinning face")
SILENCE_PEAK = 1e-3  # speech recognition: a clip whose samples all stay under -60 dBFS is silence
TEXT_TASK_MODALITY = "text"  # what feature-extraction and fill-mask read (Hugging Face's text tasks)


def _check_positive_int(name, value, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer{' or None' if allow_none else ''}; received {value!r}.")
    return int(value)


def _resolve(task, model, shown=None):
    """The version directory for `task` (canonical name); `shown` is the name the user gave."""
    from mmpretrain.export.model_dirs import BUILD_COMMANDS, default_model_dir, resolve_model_dir

    name = DEFAULT_MODELS[task]
    if model is None:
        return resolve_model_dir(default_model_dir(name), f"default {shown or task} model", BUILD_COMMANDS[name])
    if not isinstance(model, (str, os.PathLike)):
        raise ValueError(
            f"model must be a path to a SavedModel (saved_models/NAME or saved_models/NAME/VERSION); "
            f"received a {type(model).__name__}.")
    path = os.fspath(model)
    if not os.path.exists(path) and os.sep not in path and os.path.isdir(default_model_dir(path)):
        path = default_model_dir(path)  # a bare model name: saved_models/NAME
    return resolve_model_dir(path, f"{task} model", BUILD_COMMANDS.get(os.path.basename(path.rstrip(os.sep))))


def _load_saved_model(path):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (text graphs hold tf.text ops)

    try:
        return tf.saved_model.load(path)
    except Exception as err:  # parse and op-registration errors have many types
        raise ValueError(f"Could not load the SavedModel {path!r} ({type(err).__name__}: {str(err)[:200]}); "
                         "it is damaged or incomplete. Export it again.") from None


def _batches(items, size):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _run(record, signature, items, info, outputs, batch_size):
    """Runs `signature` on decoded `items`, batch by batch -> {output: numpy [N, ...]} in input order.

    The record's `collate` gives the raw batches (it may split a batch, e.g. by image size)."""
    from mmpretrain.modalities.modality import signature_arguments

    results = {name: [None] * len(items) for name in outputs}
    for start in range(0, len(items), batch_size):
        for rows, batch in record.collate(items[start : start + batch_size], info):
            out = signature(**signature_arguments(batch))
            for name in outputs:
                values = out[name].numpy()
                for row, value in zip(rows, values):
                    results[name][start + row] = value
    return results


class Pipeline:
    """Common parts: the task, the model directory, the batch size and `top_k`."""

    def __init__(self, task, model_dir, batch_size, top_k):
        self.task = task
        self.model_dir = model_dir
        self.batch_size = batch_size
        self.top_k = top_k

    def __repr__(self):
        return f"{type(self).__name__}(task={self.task!r}, model={self.model_dir!r})"


class ClassificationPipeline(Pipeline):
    """Classification with an app's SavedModel (raw input -> probabilities), for the modality in
    its app.json: the modality record decodes and batches the inputs and sets HF's defaults
    (`classification_top_k`, `single_label_answers`)."""

    def __init__(self, task, model_dir, batch_size=32, top_k=None):
        from mmpretrain.export.model_dirs import app_config
        from mmpretrain.modalities import get_modality

        super().__init__(task, model_dir, batch_size, top_k)
        self.config = app_config(model_dir)
        if self.config.get("task") != task:
            raise ValueError(
                f"{model_dir!r} is a {self.config.get('task')!r} model ({self.config.get('app')!r}), not a "
                f"{task!r} one. Use pipeline({self.config.get('task')!r}, model=...) for it, or pass a "
                f"{task} model.")
        self.modality = self.config["modality"]
        self.record = get_modality(self.modality)
        self.class_names = list(self.config["class_names"])
        self.signature = _load_saved_model(model_dir).signatures[self.config.get("signature", "serving_default")]

    def __call__(self, inputs, top_k=None):
        """Classifies one input (-> list of {label, score}) or a list (-> one answer per input)."""
        top_k = _check_positive_int("top_k", top_k if top_k is not None else self.top_k, allow_none=True)
        nested = top_k is not None or not self.record.single_label_answers  # HF: text gives top-1 dicts
        k = min(top_k or self.record.classification_top_k, len(self.class_names))
        items, single = self.record.decode(inputs, self.task, self.config)
        probabilities = _run(self.record, self.signature, items, self.config, ["probabilities"],
                             self.batch_size)["probabilities"]
        answers = []
        for row in probabilities:
            best = np.argsort(-row, kind="stable")[:k]
            ranked = [{"label": self.class_names[i], "score": float(row[i])} for i in best]
            answers.append(ranked if nested else ranked[0])
        if single:
            return answers[0] if nested else answers
        return answers


class FeatureExtractionPipeline(Pipeline):
    """Token-level features of text with an encoder SavedModel: [1, tokens, D] per input (HF shape).

    `pooled=True` (constructor or call) gives one sentence vector [D] per input instead.
    """

    def __init__(self, task, model_dir, batch_size=32, top_k=None, pooled=False):
        from mmpretrain.export.model_dirs import encoder_config
        from mmpretrain.modalities import get_modality

        super().__init__(task, model_dir, batch_size, top_k)
        self.config = encoder_config(model_dir)
        self.modality = TEXT_TASK_MODALITY
        if self.modality not in self.config.get("modalities", []):
            raise ValueError(
                f"feature-extraction embeds {self.modality}, but the encoder {model_dir!r} has "
                f"{self.config.get('modalities')}; use mmpretrain.load({model_dir!r}) for its other modalities.")
        self.record = get_modality(self.modality)
        self.signature = _load_saved_model(model_dir).signatures[f"serve_{self.modality}"]
        self.pooled = bool(pooled)

    def __call__(self, inputs, pooled=None):
        pooled = self.pooled if pooled is None else bool(pooled)
        items, single = self.record.decode(inputs, self.task, self.config)
        out = _run(self.record, self.signature, items, self.config,
                   ["pooled_output", "sequence_output", "padding_mask"], self.batch_size)
        if pooled:
            answers = [vector.tolist() for vector in out["pooled_output"]]
        else:
            answers = [[sequence[mask].tolist()] for sequence, mask in zip(out["sequence_output"], out["padding_mask"])]
        return answers[0] if single else answers


class FillMaskPipeline(Pipeline):
    """The MLM head's top-k tokens for the one "[MASK]" of each input (HF's fill-mask shape)."""

    def __init__(self, task, model_dir, batch_size=32, top_k=None):
        from mmpretrain.export.model_dirs import app_config
        from mmpretrain.modalities import get_modality

        super().__init__(task, model_dir, batch_size, top_k)
        self.config = app_config(model_dir)
        if self.config.get("task") != "fill-mask":
            raise ValueError(f"{model_dir!r} is a {self.config.get('task')!r} model, not a fill-mask one; "
                             "build one with `python apps/fill_mask/export.py`.")
        self.record = get_modality(self.config.get("modality", TEXT_TASK_MODALITY))
        self.mask_token = self.config.get("mask_token", "[MASK]")
        self.signature = _load_saved_model(model_dir).signatures["serving_default"]

    def __call__(self, inputs, top_k=None):
        import re

        top_k = _check_positive_int("top_k", top_k if top_k is not None else (self.top_k or 5))
        if top_k > int(self.config["top_k"]):
            raise ValueError(f"top_k={top_k} is more than the {self.config['top_k']} candidates this model "
                             f"exports; pass top_k <= {self.config['top_k']} (or export with a larger --top-k).")
        items, single = self.record.decode(inputs, self.task, self.config)
        pattern = re.compile(re.escape(self.mask_token), re.IGNORECASE)
        for i, text in enumerate(items):
            found = len(pattern.findall(text))
            if found != 1:
                raise ValueError(
                    f"fill-mask: input {i} has {found} {self.mask_token} tokens ({text[:60]!r}); put exactly "
                    f"one {self.mask_token} where the word to predict goes, e.g. 'This is a great {self.mask_token}.'")
        out = _run(self.record, self.signature, items, self.config, ["mask_count", "token_ids", "tokens", "scores"],
                   self.batch_size)
        answers = []
        for j, text in enumerate(items):
            if int(out["mask_count"][j]) != 1:
                raise ValueError(
                    f"fill-mask: the {self.mask_token} of {text[:60]!r} falls beyond the model's "
                    f"{self.config.get('sequence_length')} tokens; shorten the text before it.")
            answers.append([self._candidate(text, pattern, int(out["token_ids"][j][r]),
                                            out["tokens"][j][r].decode("utf-8"), float(out["scores"][j][r]))
                            for r in range(top_k)])
        return answers[0] if single else answers

    @staticmethod
    def _candidate(text, pattern, token_id, token, score):
        import re

        word = token[2:] if token.startswith("##") else token
        if token.startswith("##"):  # a suffix piece joins the word before the mask
            sequence = re.sub(r"\s*" + pattern.pattern, lambda m: word, text, count=1, flags=re.IGNORECASE)
        else:
            sequence = pattern.sub(lambda m: word, text, count=1)
        return {"score": score, "token": token_id, "token_str": word, "sequence": sequence}


class Text2TextPipeline(Pipeline):
    """Text generation with a sequence-to-sequence app's SavedModel (decoding inside the graph), in
    Hugging Face's v4 shapes: one input -> [{"<kind>_text": str}], a list -> one such list each.

    `max_length` (tokens written at most, 1 to the model's target length), `num_beams` (1 greedy,
    up to 16) and `length_penalty` (GNMT's alpha, 0 to 5) default to the app's decoding, which the
    `generate` signature uses; passing any of them calls `generate_with_options`. An empty or
    whitespace-only string is refused with a ValueError, as in every text pipeline (the
    SavedModel's `generate` itself decodes it); inputs longer than the encoder's sequence length
    keep their first `source_length - 2` wordpieces.
    """

    output_key = "generated_text"

    def __init__(self, task, model_dir, batch_size=32, top_k=None, **kwargs):
        from mmpretrain.export.model_dirs import app_config
        from mmpretrain.modalities import get_modality

        super().__init__(task, model_dir, batch_size, top_k)
        if top_k is not None:
            raise ValueError(f"pipeline({task!r}) takes no top_k; use num_beams for beam search.")
        self.config = app_config(model_dir)
        if self.config.get("task") != task:
            raise ValueError(
                f"{model_dir!r} is a {self.config.get('task')!r} model ({self.config.get('app')!r}), not a "
                f"{task!r} one; pass a {task} model (e.g. saved_models/{DEFAULT_MODELS.get(task, task)}).")
        self.record = get_modality(TEXT_TASK_MODALITY)
        self.defaults = dict(self.config["decoding"])
        self.loaded = _load_saved_model(model_dir)
        self.check_defaults(**kwargs)
        self.call_defaults = kwargs

    def check_defaults(self, max_length=None, num_beams=None, length_penalty=None):
        from mmpretrain.tasks.seq2seq import check_generation_options

        limit = int(self.config["target_length"])
        return check_generation_options(
            self.defaults["max_length"] if max_length is None else max_length,
            self.defaults["num_beams"] if num_beams is None else num_beams,
            self.defaults["length_penalty"] if length_penalty is None else length_penalty, limit)

    def generate(self, items, max_length=None, num_beams=None, length_penalty=None):
        import tensorflow as tf

        options = dict(self.call_defaults)
        for key, value in (("max_length", max_length), ("num_beams", num_beams), ("length_penalty", length_penalty)):
            if value is not None:
                options[key] = value
        max_length, num_beams, length_penalty = self.check_defaults(**options)
        default = (max_length, num_beams, length_penalty) == (
            self.defaults["max_length"], self.defaults["num_beams"], self.defaults["length_penalty"])
        texts = []
        for batch in _batches(items, self.batch_size):
            if default:
                out = self.loaded.signatures[self.config.get("signature", "generate")](text=tf.constant(batch))
            else:
                out = self.loaded.generate_with_options({
                    "text": tf.constant(batch), "max_length": tf.constant(max_length, tf.int32),
                    "num_beams": tf.constant(num_beams, tf.int32),
                    "length_penalty": tf.constant(length_penalty, tf.float32)})
            texts += [t.decode("utf-8") for t in out["text"].numpy()]
        return texts

    def __call__(self, inputs, max_length=None, num_beams=None, length_penalty=None):
        items, single = self.record.decode(inputs, self.task, self.config)
        texts = self.generate(items, max_length, num_beams, length_penalty)
        answers = [[{self.output_key: text}] for text in texts]
        return answers[0] if single else [answer[0] for answer in answers]


class SummarizationPipeline(Text2TextPipeline):
    """`pipeline("summarization")(text)` -> [{"summary_text": ...}] (see `Text2TextPipeline`)."""

    output_key = "summary_text"


class TranslationPipeline(Text2TextPipeline):
    """`pipeline("translation_en_to_de")(text)` or `pipeline("translation", src_lang="en",
    tgt_lang="fr")(text)` -> [{"translation_text": ...}] (see `Text2TextPipeline`)."""

    output_key = "translation_text"


class SpeechRecognitionPipeline(Pipeline):
    """`pipeline("automatic-speech-recognition")(audio)` -> {"text": str} (a list -> a list of them),
    with the speech-to-text app's SavedModel, in Hugging Face's shapes.

    Inputs: a file path, file bytes, a float waveform (at `sampling_rate`, default 16 kHz), a
    {"array", "sampling_rate"} dict, or a list of them; stereo is mixed down and any rate is
    resampled. A clip up to the model's `max_seconds` runs through `transcribe` (the app's
    decoding). Longer audio, or `chunk_length_s`, is cut into windows of `chunk_length_s` seconds
    (default the model's `max_seconds`) that overlap by `stride_length_s` on each side (default a
    sixth of the window); the CTC frames of each window's overlaps are dropped, the rest joined
    and decoded greedily, as Hugging Face's chunked CTC pipeline does. `return_timestamps="word"`
    adds "chunks": [{"text": word, "timestamp": (start, end)}] in seconds from the greedy CTC
    alignment (`"char"`: one per character). Silence (no sample above `SILENCE_PEAK`, -60 dBFS)
    gives {"text": ""} without running the model.
    """

    def __init__(self, task, model_dir, batch_size=32, top_k=None, **kwargs):
        from mmpretrain.export.model_dirs import app_config
        from mmpretrain.modalities import get_modality

        super().__init__(task, model_dir, batch_size, top_k)
        if top_k is not None:
            raise ValueError(f"pipeline({task!r}) takes no top_k.")
        self.config = app_config(model_dir)
        if self.config.get("task") != task:
            raise ValueError(f"{model_dir!r} is a {self.config.get('task')!r} model, not a {task!r} one; pass a "
                             f"speech-to-text model (e.g. saved_models/{DEFAULT_MODELS[task]}).")
        self.record = get_modality("audio")
        self.loaded = _load_saved_model(model_dir)
        self.call_defaults = self.check_options(**kwargs)

    def check_options(self, sampling_rate=None, chunk_length_s=None, stride_length_s=None, return_timestamps=None):
        max_seconds = float(self.config["max_seconds"])
        for name, value in (("chunk_length_s", chunk_length_s), ("stride_length_s", stride_length_s)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not np.isfinite(value) or value <= 0):
                raise ValueError(f"{name} must be a positive number of seconds or None; received {value!r}.")
        if chunk_length_s is not None and chunk_length_s > max_seconds:
            raise ValueError(f"chunk_length_s must be at most the model's max_seconds ({max_seconds:g}); "
                             f"received {chunk_length_s!r}.")
        chunk = float(chunk_length_s or max_seconds)
        if stride_length_s is not None and not 2 * stride_length_s < chunk:
            raise ValueError(f"stride_length_s must be under half of chunk_length_s ({chunk:g} s); "
                             f"received {stride_length_s!r}.")
        if return_timestamps not in (None, False, "word", "char"):
            raise ValueError(f"return_timestamps must be None, 'word' or 'char'; received {return_timestamps!r}.")
        if sampling_rate is not None:
            _check_positive_int("sampling_rate", sampling_rate)
        return {"sampling_rate": sampling_rate, "chunk_length_s": chunk_length_s,
                "stride_length_s": stride_length_s, "return_timestamps": return_timestamps or None}

    def _with_rate(self, inputs, sampling_rate):
        """Float arrays at `sampling_rate` -> {"array", "sampling_rate"} dicts (what audio_io reads)."""
        if sampling_rate is None:
            return inputs
        wrap = lambda x: {"array": x, "sampling_rate": sampling_rate} if isinstance(x, np.ndarray) else x  # noqa: E731
        if isinstance(inputs, np.ndarray) and inputs.ndim == 2 and inputs.shape[1] > 8:
            return [wrap(row) for row in inputs]  # a batch [N, T]
        return [wrap(x) for x in inputs] if isinstance(inputs, list) else wrap(inputs)

    def _logits(self, windows):
        """CTC log-probabilities [F_i, C] of each window (float32 clips), batch by batch."""
        import tensorflow as tf

        from mmpretrain.modalities.audio_io import pad_batch

        signature = self.loaded.signatures["ctc_logits"]
        out = []
        for batch in _batches(windows, self.batch_size):
            padded = pad_batch(list(batch))
            result = signature(waveforms=tf.constant(padded["waveforms"]), lengths=tf.constant(padded["lengths"]))
            for log_probs, frames in zip(result["log_probs"].numpy(), result["frame_lengths"].numpy()):
                out.append(log_probs[: int(frames)])
        return out

    def chunked_log_probs(self, clip, chunk_length_s, stride_length_s):
        """One clip's CTC frames [F, C] over overlapping windows, overlaps dropped (see the class)."""
        from tqdm.auto import tqdm

        patch = int(self.config["time_patch_samples"])
        rate = int(self.config["sample_rate"])
        per_patch = int(self.config["upsample"])
        chunk = max(1, int(round(chunk_length_s * rate / patch))) * patch
        stride = int(round((stride_length_s if stride_length_s is not None else chunk_length_s / 6) * rate / patch)) * patch
        stride = min(stride, (chunk - patch) // 2 // patch * patch)
        step = chunk - 2 * stride
        starts = [0]
        while starts[-1] + chunk < len(clip):
            starts.append(starts[-1] + step)
        frames = []
        bar = tqdm(total=len(starts), desc="transcribing", unit="window", disable=len(starts) < 20)
        for first in range(0, len(starts), self.batch_size):
            group = starts[first : first + self.batch_size]
            for start, log_probs in zip(group, self._logits([clip[s : s + chunk] for s in group])):
                left = 0 if start == 0 else stride // patch * per_patch
                last = start == starts[-1]
                right = len(log_probs) if last else (chunk - stride) // patch * per_patch
                frames.append(log_probs[left:right])
            bar.update(len(group))
        bar.close()
        return np.concatenate(frames, axis=0)

    def __call__(self, inputs, sampling_rate=None, chunk_length_s=None, stride_length_s=None, return_timestamps=None):
        import tensorflow as tf

        from mmpretrain.modalities.audio_io import pad_batch
        from mmpretrain.tasks.ctc_recognizer import greedy_alignment, word_timestamps

        given = {"sampling_rate": sampling_rate, "chunk_length_s": chunk_length_s,
                 "stride_length_s": stride_length_s, "return_timestamps": return_timestamps}
        options = self.check_options(**{k: v if v is not None else self.call_defaults[k] for k, v in given.items()})
        items, single = self.record.decode(self._with_rate(inputs, options["sampling_rate"]), self.task,
                                           {"sample_rate": self.config["sample_rate"], "max_audio_seconds": None})
        max_samples = int(round(float(self.config["max_seconds"]) * int(self.config["sample_rate"])))
        chunk_length_s = options["chunk_length_s"] or float(self.config["max_seconds"])
        answers = [None] * len(items)
        for i, clip in enumerate(items):
            if float(np.max(np.abs(clip))) < SILENCE_PEAK:  # digital silence: nothing was said
                answers[i] = {"text": "", "chunks": []} if options["return_timestamps"] else {"text": ""}
        plain = [i for i, clip in enumerate(items) if answers[i] is None and len(clip) <= max_samples
                 and options["chunk_length_s"] is None and not options["return_timestamps"]]
        signature = self.loaded.signatures[self.config.get("signature", "transcribe")]
        for rows in _batches(plain, self.batch_size):
            batch = pad_batch([items[i] for i in rows])
            texts = signature(waveforms=tf.constant(batch["waveforms"]), lengths=tf.constant(batch["lengths"]))["text"]
            for row, text in zip(rows, texts.numpy()):
                answers[row] = {"text": text.decode("utf-8")}
        frame_seconds = float(self.config["frame_seconds"])
        for i, clip in enumerate(items):
            if answers[i] is not None:
                continue
            log_probs = self.chunked_log_probs(clip, chunk_length_s, options["stride_length_s"])
            text, chars = greedy_alignment(log_probs)
            answers[i] = {"text": text}
            duration = len(clip) / int(self.config["sample_rate"])
            if options["return_timestamps"] == "word":
                answers[i]["chunks"] = word_timestamps(chars, frame_seconds, duration)
            elif options["return_timestamps"] == "char":
                answers[i]["chunks"] = [{"text": c, "timestamp": (round(min(f * frame_seconds, duration), 3),
                                                                  round(min((f + 1) * frame_seconds, duration), 3))}
                                        for c, f in chars]
        return answers[0] if single else answers



class AlignedEmbedder:
    """The retrieval app's SavedModel (`embed_text`, `embed_image`, `embed_audio`: unit vectors in
    one space) on user inputs: `AlignedEmbedder(path).embed(inputs, "image")` -> numpy [N, K].

    Inputs are decoded and checked by the modality record, as in the other pipelines (paths,
    bytes, arrays; any image size, any audio rate); `what` prefixes the error messages."""

    def __init__(self, model_dir, batch_size=32):
        from mmpretrain.export.model_dirs import app_config

        self.model_dir = model_dir
        self.batch_size = batch_size
        self.config = app_config(model_dir)
        if self.config.get("task") != "cross-modal-retrieval":
            raise ValueError(f"{model_dir!r} is a {self.config.get('task')!r} model, not an aligned text-image-speech "
                             f"one; pass a retrieval model (e.g. saved_models/retrieval, built by "
                             f"`python apps/retrieval/train.py`).")
        self.modalities = list(self.config["modalities"])
        self.loaded = _load_saved_model(model_dir)

    def require(self, modality, what):
        if modality not in self.modalities:
            raise ValueError(f"{what}: {self.model_dir!r} aligns {self.modalities}, not {modality!r}.")

    def embed(self, inputs, modality, what="AlignedEmbedder"):
        """One input or a list -> (float32 numpy [N, K] unit vectors, whether one input was given)."""
        from mmpretrain.modalities import get_modality

        self.require(modality, what)
        record = get_modality(modality)
        items, single = record.decode(inputs, what, self.config)
        signature = self.loaded.signatures[self.config["signatures"][modality]]
        vectors = _run(record, signature, items, self.config, ["embeddings"], self.batch_size)["embeddings"]
        return np.stack(vectors).astype(np.float32), single

    def scores(self, logits):
        """Label scores from scale * cosine [N, C]: softmax over the labels (contrastive loss, CLIP)
        or a sigmoid per label with the learned bias (sigmoid loss, SigLIP)."""
        if self.config.get("loss") == "sigmoid":
            return 1.0 / (1.0 + np.exp(-(logits + float(self.config.get("logit_bias", 0.0)))))
        scores = np.exp(logits - logits.max(axis=1, keepdims=True))
        return scores / scores.sum(axis=1, keepdims=True)


class ZeroShotClassificationPipeline(Pipeline):
    """`pipeline("zero-shot-image-classification")(image, candidate_labels=[...])` and
    `pipeline("zero-shot-audio-classification")(audio, candidate_labels=[...])` -> [{"score",
    "label"}] sorted by score (a list of inputs -> one such list each), in Hugging Face's shapes,
    with the retrieval app's aligned SavedModel (`AlignedEmbedder`).

    Each label is put in `hypothesis_template` (default "{}": the model was aligned on bare
    captions; Hugging Face's CLIP default is "This is a photo of {}.") and embedded as text; the
    scores are softmax(scale * cosine) over the labels for a model trained with the contrastive
    loss (CLIP), and sigmoid(scale * cosine + bias) per label for the sigmoid one (SigLIP).
    """

    def __init__(self, task, model_dir, batch_size=32, top_k=None, **kwargs):
        super().__init__(task, model_dir, batch_size, top_k)
        self.modality = ZERO_SHOT_MODALITY[task]
        self.embedder = AlignedEmbedder(model_dir, batch_size)
        for modality in ("text", self.modality):
            self.embedder.require(modality, f"pipeline({task!r})")
        self.call_defaults = {"hypothesis_template": self.check_template(kwargs.pop("hypothesis_template", None))}

    @staticmethod
    def check_template(template):
        if template is None:
            return DEFAULT_HYPOTHESIS_TEMPLATE
        if not isinstance(template, str) or "{}" not in template:
            raise ValueError(f"hypothesis_template must be a string with one '{{}}' for the label, e.g. "
                             f"'This is a photo of {{}}.'; received {template!r}.")
        return template

    @staticmethod
    def check_labels(labels):
        if isinstance(labels, str):
            labels = [part.strip() for part in labels.split(",")]  # HF accepts "a,b,c"
        if not isinstance(labels, (list, tuple)) or not all(isinstance(x, str) and x.strip() for x in labels):
            raise ValueError(f"candidate_labels must be a list of non-empty strings; received {labels!r}.")
        if len(labels) < 2:
            raise ValueError(f"candidate_labels needs at least two labels to choose between; received {list(labels)!r}.")
        repeated = sorted({x for x in labels if list(labels).count(x) > 1})
        if repeated:
            raise ValueError(f"candidate_labels must be distinct; {repeated} appear more than once.")
        return list(labels)

    def __call__(self, inputs, candidate_labels=None, hypothesis_template=None, top_k=None):
        labels = self.check_labels(candidate_labels)
        template = self.check_template(hypothesis_template or self.call_defaults["hypothesis_template"])
        top_k = _check_positive_int("top_k", top_k if top_k is not None else self.top_k, allow_none=True)
        vectors, single = self.embedder.embed(inputs, self.modality, self.task)
        label_vectors, _ = self.embedder.embed([template.format(label) for label in labels], "text", self.task)
        scores = self.embedder.scores(float(self.embedder.config["logit_scale"]) * (vectors @ label_vectors.T))
        answers = []
        for row in scores:
            order = np.argsort(-row, kind="stable")[: top_k or len(labels)]
            answers.append([{"score": float(row[i]), "label": labels[i]} for i in order])
        return answers[0] if single else answers


def translation_task(src_lang, tgt_lang):
    """"translation" + languages -> "translation_<src>_to_<tgt>", or a ValueError listing the pairs."""
    pairs = [f"{a}->{b}" for a, b in TRANSLATION_PAIRS]
    if (src_lang, tgt_lang) not in TRANSLATION_PAIRS:
        raise ValueError(f"pipeline('translation') has no model for src_lang={src_lang!r}, tgt_lang={tgt_lang!r}; "
                         f"the language pairs it has: {pairs} (e.g. src_lang='en', tgt_lang='de').")
    return f"translation_{src_lang}_to_{tgt_lang}"


PIPELINES = {
    "text-classification": ClassificationPipeline,
    "image-classification": ClassificationPipeline,
    "audio-classification": ClassificationPipeline,
    "feature-extraction": FeatureExtractionPipeline,
    "fill-mask": FillMaskPipeline,
    "summarization": SummarizationPipeline,
    "translation_en_to_de": TranslationPipeline,
    "translation_en_to_fr": TranslationPipeline,
    "automatic-speech-recognition": SpeechRecognitionPipeline,
    "zero-shot-image-classification": ZeroShotClassificationPipeline,
    "zero-shot-audio-classification": ZeroShotClassificationPipeline,
}


def pipeline(task, model=None, batch_size=32, top_k=None, **kwargs):
    """A callable for `task` on `model` (default: the task's app model in saved_models/).

    Args:
        task: "sentiment-analysis" (= "text-classification"), "image-classification",
            "audio-classification", "feature-extraction", "fill-mask", "summarization",
            "translation_en_to_de", "translation_en_to_fr", "translation" with `src_lang` and
            `tgt_lang` keywords, "automatic-speech-recognition", "zero-shot-image-classification"
            or "zero-shot-audio-classification" (called with `candidate_labels=[...]`).
        model: a model directory (saved_models/NAME: its newest version), a version directory
            (saved_models/NAME/VERSION) or a bare name under saved_models/. None: the default
            model of the task; if it is missing, the error names the command that builds it.
        batch_size: inputs per call of the model.
        top_k: how many labels/tokens to return per input (default: classification of text 1,
            of images/audio 5; fill-mask 5).
        kwargs: `pooled=True` for feature-extraction (one vector per input); `max_length`,
            `num_beams`, `length_penalty` for summarization and translation; `sampling_rate`,
            `chunk_length_s`, `stride_length_s`, `return_timestamps` for speech recognition (call defaults);
            `hypothesis_template` for the zero-shot tasks.
    """
    if not isinstance(task, str):
        raise ValueError(f"task must be a string such as 'sentiment-analysis'; received {type(task).__name__}.")
    if task not in TASK_ALIASES:
        close = difflib.get_close_matches(task, list(TASK_ALIASES), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"Unknown task {task!r}.{hint} Supported tasks: {sorted(TASK_ALIASES)}.")
    canonical = TASK_ALIASES[task]
    if canonical == "translation":
        canonical = translation_task(kwargs.pop("src_lang", None), kwargs.pop("tgt_lang", None))
        task = canonical
    batch_size = _check_positive_int("batch_size", batch_size)
    top_k = _check_positive_int("top_k", top_k, allow_none=True)
    generation = {"max_length", "num_beams", "length_penalty"}
    accepted = {"feature-extraction": {"pooled"}, "summarization": generation, "translation_en_to_de": generation,
                "translation_en_to_fr": generation,
                "automatic-speech-recognition": {"sampling_rate", "chunk_length_s", "stride_length_s",
                                                 "return_timestamps"},
                "zero-shot-image-classification": {"hypothesis_template"},
                "zero-shot-audio-classification": {"hypothesis_template"}}
    extra = set(kwargs) - accepted.get(canonical, set())
    if extra:
        raise ValueError(f"pipeline({task!r}) got unexpected arguments {sorted(extra)}.")
    model_dir = _resolve(canonical, model, shown=task)
    return PIPELINES[canonical](canonical, model_dir, batch_size=batch_size, top_k=top_k, **kwargs)


class Encoder:
    """An exported encoder as a TF Hub-like callable: raw inputs -> pooled embeddings tf.Tensor [B, D].

    The modality follows the input: the first registered modality whose record `claims` it
    (strings/bytes -> text; uint8 arrays [H, W(, C)] or [N, H, W, C] -> image; float arrays [T]
    or lists of them, {'array', 'sampling_rate'} dicts -> audio at 16 kHz; integer PCM arrays
    are audio too, refused with the /32768 fix). Pass `modality=` to read file paths or bytes
    (`embed(["a.png"], modality="image")`). Each modality runs through one
    `mmpretrain.tasks.TextEmbedder` (`embedders[modality]`, built on first use, not normalized):
    the same model, input checks and batching as the text_embedding app. `config` and
    `modalities` describe the SavedModel; `signatures` are its raw signatures.
    """

    def __init__(self, path, batch_size=32):
        from mmpretrain.export.model_dirs import (
            BUILD_COMMANDS,
            DEFAULT_ENCODER_NAME,
            encoder_config,
            resolve_model_dir,
        )

        self.path = resolve_model_dir(path, "encoder SavedModel", BUILD_COMMANDS[DEFAULT_ENCODER_NAME])
        self.config = encoder_config(self.path)
        self.modalities = list(self.config["modalities"])
        self.batch_size = _check_positive_int("batch_size", batch_size)
        self.embedders = {}
        self._loaded = None

    @property
    def signatures(self):
        if self._loaded is None:
            self._loaded = _load_saved_model(self.path)
        return self._loaded.signatures

    def _guess(self, inputs):
        from mmpretrain.modalities import get_modality, modality_names

        names = [n for n in modality_names() if n in self.modalities]
        if isinstance(inputs, (list, tuple)) and not inputs:
            raise ValueError("load() received an empty list. Pass at least one input: "
                             + "; ".join(f"{n}: {get_modality(n).accepted}" for n in names) + ".")
        first = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        for name in modality_names():
            if get_modality(name).claims(first):
                return name
        if isinstance(first, (list, tuple)):
            raise ValueError(
                f"load() received nested lists (item 0 is a {type(first).__name__} of "
                f"{len(first)}); pass one input or a flat list of inputs, each of: "
                + "; ".join(f"{n}: {get_modality(n).accepted}" for n in names) + ".")
        raise ValueError(
            f"Cannot tell the modality of {type(first).__name__} input; pass "
            + "; ".join(f"{n}: {get_modality(n).accepted}" for n in names)
            + f" (or modality={'|'.join(repr(n) for n in names)} with file paths or bytes).")

    def embedder(self, modality):
        """The `TextEmbedder` of `modality` (ValueError if the encoder lacks it)."""
        if modality not in self.modalities:
            raise ValueError(f"This encoder ({self.path!r}) has modalities {self.modalities}; it cannot embed "
                             f"{modality!r} inputs. Export a run with that modality.")
        if modality not in self.embedders:
            from mmpretrain.export.trainable_encoder import load_encoder_layer
            from mmpretrain.tasks.text_embedder import TextEmbedder

            layer = load_encoder_layer(self.path, f"serve_{modality}", trainable=False)
            embedder = TextEmbedder(layer, normalize=False, name=f"{modality}_embedder")
            embedder.info = self.config
            self.embedders[modality] = embedder
        return self.embedders[modality]

    def __call__(self, inputs, modality=None):
        import tensorflow as tf

        embedder = self.embedder(modality or self._guess(inputs))
        return tf.constant(embedder.embed(inputs, batch_size=self.batch_size, what="load()"))

    def __repr__(self):
        return f"Encoder({self.path!r}, modalities={self.modalities})"


def load(path=None, batch_size=32):
    """An exported encoder (saved_models/NAME or NAME/VERSION; default the demo's) as a callable.

    `mmpretrain.load(path)(["This is a great movie!"])` -> tf.Tensor [1, D] (pooled_output).
    """
    from mmpretrain.export.model_dirs import DEFAULT_ENCODER_NAME, default_model_dir

    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"load() takes the path of an encoder SavedModel; received {type(path).__name__}.")
    return Encoder(default_model_dir(DEFAULT_ENCODER_NAME) if path is None else path, batch_size=batch_size)
