# center: the command centre (作战室, /center). Tibetan translations are still to be written
# (a native speaker's review is needed); until then these pages fall back to Chinese.
