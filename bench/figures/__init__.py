"""The bench's figures, one module each: checkout, book page, one call, events, platform."""
