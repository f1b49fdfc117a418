"""kinds/commentary"""
