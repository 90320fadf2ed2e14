"""One module per embedded source (text corpus, sentiment, Fashion-MNIST, digits, speech) and the
user's own data (`user`)."""
