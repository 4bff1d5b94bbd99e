"""flatc-generated flatbuffer code for the TFLite metadata schema and the model's root table (see README.md)."""
