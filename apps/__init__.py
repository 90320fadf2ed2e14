"""The task apps (`python apps/APP/SCRIPT.py`); `apps.common` holds what they share."""
