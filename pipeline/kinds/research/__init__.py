"""kinds/research"""
