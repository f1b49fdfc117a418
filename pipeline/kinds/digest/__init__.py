"""kinds/digest"""
