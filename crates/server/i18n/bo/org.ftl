# org: the "8+" organisation (/admin). Messages missing here are shown in Chinese.
org-nav-admin = སྒྲིག་འཛུགས་དོ་དམ།
org-tab-overview = སྤྱི་མཐོང་།
org-tab-households = ཁྱིམ་ཚང་།
org-tab-monasteries = དགོན་པ།
org-tab-enterprises = ཁེ་ལས།
org-tab-units = ལས་ཁུངས།
org-save = ཉར་ཚགས།
org-none = མེད།
org-gender-female = བུད་མེད།
org-gender-male = སྐྱེས་པ།
