"""The export formats' names, in the one tuple the CLI's choices, the TUI's export dialog, the command palette and the
README's usage line are made from. A module of its own, importing only the settings' names, so that the CLI can
build its choices at import without loading the store."""

from tuitune.config import TRAIN_METHODS

ROW_FORMATS = TRAIN_METHODS  # trl's rows for each trainer, the very rows training builds
CONVERSATIONS = "conversations"  # every conversation tree, losslessly (tuitune's own format)
EXPORT_FORMATS = (*ROW_FORMATS, CONVERSATIONS)
EXPORT_DESCRIPTIONS = {
    "sft": "good answers as chat rows (trl SFTTrainer)",
    "dpo": "chosen / rejected pairs (trl DPOTrainer)",
    "kto": "good and bad answers with a label (trl KTOTrainer)",
    CONVERSATIONS: "every conversation tree, lossless (tuitune import)",
}
