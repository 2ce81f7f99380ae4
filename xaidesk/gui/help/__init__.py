"""Help ▸ Guide: a short illustrated guide, built from the method registry, shown offline.

:mod:`.guide` writes the HTML (Qt-free); :mod:`.dialog` shows it. Neither is imported
before the window is shown: the Help menu imports them when it is used.
"""
