"""The rules that turn judgements and files into what is trained and what is measured. Pure: no torch, no UI.

- `prompts`: the prompt of a turn (system prompt + the conversation path), as chat sends it and training pairs it.
- `rows`: which judged answers can train, how they are counted, the SFT/DPO/KTO rows they become.
- `sets`: a run's training set: the held-out prompts, the turns that repeat an eval prompt, `auto`'s choice, `build`,
  and `trainable_counts` for the status bar.
- `evalsets`: the behaviour prompts and check questions an adapter is measured on.

Below chat, training and exchange (which never import one another), above the store and the config; the store does
the SQL, this package the rules.
"""
