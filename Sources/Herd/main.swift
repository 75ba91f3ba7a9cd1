print("herd")
