"""SQL only: each function takes a connection first and returns wire models or plain values."""
