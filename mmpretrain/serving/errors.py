"""RequestError: an HTTP status + a message, answered as {"error": message}."""

import re


class RequestError(Exception):
    """A request the server refuses: `status` is the HTTP status (4xx client, 5xx server)."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = int(status)
        self.message = str(message)


def clean_tf_message(message, limit=1000):
    """A TF runtime error message without graph node names, op traces and stack preambles."""
    text = str(message)
    if "assertion failed:" in text:  # tf.debugging assertions: the message is what matters
        text = text.split("assertion failed:", 1)[1]
    text = re.sub(r"\{\{function_node [^}]*\}\}", "", text)
    text = re.sub(r"\[\[\{\{node [^}]*\}\}\]\]", "", text)
    text = re.sub(r"\[Op:[^\]]*\]", "", text)
    text = re.sub(r"Graph execution error:|Detected at node .*?<stack traces unavailable>", "", text)
    text = text.replace("\\'", "'")
    text = re.sub(r"\s+", " ", text).strip()
    return text[:limit]
