"""Training the float model and fine-tuning: ``train`` (the fit loop, augmentation, teachers),
``distribute`` (tf.distribute strategies and what they mean for outputs)."""
